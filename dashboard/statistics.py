"""The numbers behind the statistics page and `GET /api/v1/stats`, read from the rows.

Each query walks one index of the models (no table scan at a million rows); see
bench/history_bench.py for what they cost. A range holds what happened in it: messages sent
(by sent_at) and failed or cancelled (by their last update) then; the totals of sent and failed
are the sums of the chart. Queued, scheduled, sending and retrying are what waits now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, literal_column, select

from .campaign_stats import CampaignRow, Throughput, campaign_rows, throughput
from .extensions import db
from .models import DeliveryAttempt, Message, MessageStatus
from .stats_range import LABEL_FORMATS, UNITS, StatsRange
from .stats_sql import recipient_domain, time_bucket

FAILURE_GROUPS_SHOWN = 20
SUBQUERIES_PER_STATEMENT = 100
RETRIED = literal_column("1")
FAILED = literal_column("'failed'")


@dataclass(frozen=True)
class Totals:
    counts: dict[str, int]
    retried: int
    duplicates: int

    def count(self, status: MessageStatus) -> int:
        return self.counts.get(status.value, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def success_rate(self) -> float | None:
        """Sent out of those that reached an outcome (sent or failed); None before any."""
        sent, failed = self.count(MessageStatus.SENT), self.count(MessageStatus.FAILED)
        return sent / (sent + failed) if sent + failed else None


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    sent: int
    failed: int


@dataclass(frozen=True)
class FailureGroup:
    code: int | None
    domain: str
    count: int


@dataclass(frozen=True)
class Statistics:
    range: StatsRange
    totals: Totals
    series: list[SeriesPoint]
    failures: list[FailureGroup]
    campaigns: list[CampaignRow]
    throughput: list[Throughput] = field(default_factory=list)


def _active_in(found: StatsRange) -> list[ColumnElement[bool]]:
    """The message's last event (sent, failed, cancelled, queued) falls in the range."""
    return [Message.updated_at >= found.start, Message.updated_at < found.end]


def totals(found: StatsRange, series: list[SeriesPoint]) -> Totals:
    """Sent and failed in the range (the chart's sums), cancelled in the range, the messages
    waiting now (every other status), and the retried and duplicated ones of the range."""
    in_range = _active_in(found)
    counts = {
        MessageStatus.SENT.value: sum(point.sent for point in series),
        MessageStatus.FAILED.value: sum(point.failed for point in series),
    }
    # Drafts (a CSV campaign imported but not confirmed) were never meant to be sent yet.
    waiting = [
        s.value for s in MessageStatus if s.value not in counts and s is not MessageStatus.DRAFT
    ]
    # One indexed count per status: (status, updated_at) or (status, id).
    per_status = db.session.execute(
        select(
            *(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.status == status,
                    *(in_range if status == MessageStatus.CANCELLED else ()),
                )
                .scalar_subquery()
                for status in waiting
            )
        )
    ).one()
    counts.update(zip(waiting, per_status, strict=True))
    # Literals, not parameters, so the planner can prove the partial indexes apply.
    retried_ids = select(Message.id).where(Message.attempts > RETRIED, *in_range)
    retried = db.session.scalar(select(func.count()).select_from(retried_ids.subquery()))
    # Two sent attempts need two claims, and every claim adds one to `attempts`, so duplicates
    # are found among the retried messages alone.
    sent_attempts = (
        select(func.count())
        .select_from(DeliveryAttempt)
        .where(DeliveryAttempt.message_id == Message.id, DeliveryAttempt.outcome == "sent")
        .scalar_subquery()
    )
    duplicates = db.session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.attempts > RETRIED, *in_range, sent_attempts > 1)
    )
    return Totals(
        counts={status: n for status, n in counts.items() if n},
        retried=retried or 0,
        duplicates=duplicates or 0,
    )


def outcome_series(found: StatsRange) -> list[SeriesPoint]:
    """Messages sent and failed in each bucket of the range (empty buckets included)."""
    buckets = found.buckets()
    # One indexed range count per bucket: far cheaper than grouping a million rows by an
    # expression, which needs a sort.
    sent: list[int] = []
    for first in range(0, len(buckets), SUBQUERIES_PER_STATEMENT):
        chunk = buckets[first : first + SUBQUERIES_PER_STATEMENT]
        ends = [*chunk[1:], min(chunk[-1] + UNITS[found.unit], found.end)]
        sent += db.session.execute(
            select(
                *(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.sent_at >= start, Message.sent_at < end)
                    .scalar_subquery()
                    for start, end in zip(chunk, ends, strict=True)
                )
            )
        ).one()
    failed_bucket = time_bucket(Message.updated_at, found.unit)
    failed = dict(
        db.session.execute(
            select(failed_bucket, func.count())
            .where(Message.status == FAILED, *_active_in(found))
            .group_by(failed_bucket)
        ).all()
    )
    fmt = LABEL_FORMATS[found.unit]
    return [
        SeriesPoint(start, n_sent, failed.get(start.strftime(fmt), 0))
        for start, n_sent in zip(buckets, sent, strict=True)
    ]


def failure_groups(found: StatsRange) -> list[FailureGroup]:
    """Messages that failed in the range, grouped by SMTP code and recipient domain."""
    domain = recipient_domain(Message.to_address)
    count = func.count().label("n")
    rows = db.session.execute(
        select(Message.last_code, domain, count)
        .where(Message.status == FAILED, *_active_in(found))
        .group_by(Message.last_code, domain)
        .order_by(count.desc(), Message.last_code, domain)
        .limit(FAILURE_GROUPS_SHOWN)
    ).all()
    return [FailureGroup(code, domain or "", n) for code, domain, n in rows]


def compute_statistics(found: StatsRange) -> Statistics:
    """Everything the statistics page and the API show, for one range."""
    campaigns = campaign_rows(found)
    series = outcome_series(found)
    return Statistics(
        range=found,
        totals=totals(found, series),
        series=series,
        failures=failure_groups(found),
        campaigns=campaigns,
        throughput=throughput(campaigns),
    )
