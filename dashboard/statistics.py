"""The numbers behind the statistics page and `GET /api/v1/stats`, read from the rows.

Each query walks one index of the models (no table scan at a million rows); see
bench/history_bench.py for what they cost. A range holds what happened in it: messages sent
(by sent_at) and failed or cancelled (by their last update) then; the totals of sent and failed
are the sums of the chart. Queued, scheduled, sending and retrying are what waits now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, literal_column, select

from .extensions import db
from .models import Campaign, DeliveryAttempt, Message, MessageStatus
from .stats_range import LABEL_FORMATS, UNITS, StatsRange, floor_to

FAILURE_GROUPS_SHOWN = 20
CAMPAIGNS_SHOWN = 25
THROUGHPUT_CAMPAIGNS = 3
THROUGHPUT_MAX_MINUTES = 180
SUBQUERIES_PER_STATEMENT = 100
RETRIED = literal_column("1")
FAILED = literal_column("'failed'")


def time_bucket(column: ColumnElement, unit: str) -> ColumnElement[str]:
    """The start of the minute, hour or day `column` falls in, as text (`LABEL_FORMATS`)."""
    if db.engine.dialect.name == "postgresql":
        pattern = {"day": "YYYY-MM-DD", "hour": "YYYY-MM-DD HH24", "minute": "YYYY-MM-DD HH24:MI"}
        return func.to_char(column, pattern[unit])
    # SQLite keeps datetimes as ISO text, so the bucket is a prefix of it.
    return func.substr(column, 1, {"day": 10, "hour": 13, "minute": 16}[unit])


def recipient_domain(column: ColumnElement) -> ColumnElement[str]:
    """The lower-cased part after the last `@` (the history's `domain` filter matches it)."""
    if db.engine.dialect.name == "postgresql":
        # After the last "@": cheaper than a regular expression per row.
        return func.lower(func.reverse(func.split_part(func.reverse(column), "@", 1)))
    return func.lower(func.substr(column, func.instr(column, "@") + 1))


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
class CampaignRow:
    id: int
    subject: str
    created_at: datetime
    counts: dict[str, int]
    first_sent: datetime | None
    last_sent: datetime | None

    @property
    def recipients(self) -> int:
        return sum(self.counts.values())

    @property
    def sent(self) -> int:
        return self.counts.get(MessageStatus.SENT.value, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(MessageStatus.FAILED.value, 0)

    @property
    def success_rate(self) -> float | None:
        done = self.sent + self.failed
        return self.sent / done if done else None

    @property
    def duration_seconds(self) -> float | None:
        """From the first message delivered to the last."""
        if self.first_sent is None or self.last_sent is None:
            return None
        return (self.last_sent - self.first_sent).total_seconds()

    @property
    def per_second(self) -> float | None:
        duration = self.duration_seconds
        return self.sent / duration if duration and duration >= 1 else None


@dataclass(frozen=True)
class Throughput:
    campaign_id: int
    subject: str
    per_minute: list[tuple[datetime, int]]

    @property
    def peak(self) -> int:
        return max((count for _, count in self.per_minute), default=0)


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
    waiting = [s.value for s in MessageStatus if s.value not in counts]
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


def campaign_rows(found: StatsRange) -> list[CampaignRow]:
    """The most recent campaigns created in the range, with their counts and speed."""
    first_sent = (
        select(func.min(Message.sent_at))
        .where(Message.campaign_id == Campaign.id, Message.sent_at.is_not(None))
        .scalar_subquery()
    )
    last_sent = (
        select(func.max(Message.sent_at))
        .where(Message.campaign_id == Campaign.id)
        .scalar_subquery()
    )
    campaigns = db.session.execute(
        select(Campaign.id, Campaign.subject, Campaign.created_at, first_sent, last_sent)
        .where(Campaign.created_at >= found.start, Campaign.created_at < found.end)
        .order_by(Campaign.id.desc())
        .limit(CAMPAIGNS_SHOWN)
    ).all()
    counts: dict[int, dict[str, int]] = {row.id: {} for row in campaigns}
    known = {status.value for status in MessageStatus}
    for campaign_id, status, n in db.session.execute(
        select(Message.campaign_id, Message.status, func.count())
        .where(Message.campaign_id.in_(list(counts)))
        .group_by(Message.campaign_id, Message.status)
    ):
        if status in known:
            counts[campaign_id][status] = n
    return [
        CampaignRow(cid, subject, created, counts[cid], first, last)
        for cid, subject, created, first, last in campaigns
    ]


def throughput(campaigns: list[CampaignRow]) -> list[Throughput]:
    """Messages delivered per minute during the most recent campaigns that delivered any."""
    found = []
    for campaign in campaigns:
        if len(found) == THROUGHPUT_CAMPAIGNS:
            break
        if campaign.first_sent is None:
            continue
        minute = time_bucket(Message.sent_at, "minute")
        first = floor_to(campaign.first_sent, "minute")
        cutoff = first + timedelta(minutes=THROUGHPUT_MAX_MINUTES)
        counts = dict(
            db.session.execute(
                select(minute, func.count())
                .where(
                    and_(
                        Message.campaign_id == campaign.id,
                        Message.sent_at >= first,
                        Message.sent_at < cutoff,
                    )
                )
                .group_by(minute)
            ).all()
        )
        last = min(floor_to(campaign.last_sent or first, "minute"), cutoff - timedelta(minutes=1))
        minutes = int((last - first).total_seconds() // 60) + 1
        points = []
        for step in range(minutes):
            moment = first + timedelta(minutes=step)
            points.append((moment, counts.get(moment.strftime(LABEL_FORMATS["minute"]), 0)))
        found.append(Throughput(campaign.id, campaign.subject, points))
    return found


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
