"""The numbers behind the statistics page and `GET /api/v1/stats`, read from the rows.

Each query walks one index of the models (no table scan at a million rows), and the chart's
sent counts of finished hours come from the hourly counts kept beside the rows (`sent_hours`);
see bench/history_bench.py for what they cost. A range holds what happened in it: messages sent
(by sent_at) and failed, cancelled or bounced (by their last update) then, complaints by their
time; the totals of sent and failed
are the sums of the chart. Queued, scheduled, sending and retrying are what waits now.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, literal_column, select

from dashboard.extensions import db
from dashboard.models import DuplicateSend, Message, MessageStatus, utcnow
from dashboard.reporting.campaign_stats import CampaignRow, Throughput, campaign_rows, throughput
from dashboard.reporting.ranges import StatsRange
from dashboard.reporting.sent_hours import sent_in_hours
from dashboard.reporting.sql import local_bucket, recipient_domain, without_jit
from dashboard.sending.time_buckets import floor_to

FAILURE_GROUPS_SHOWN = 20
SUBQUERIES_PER_STATEMENT = 100
RETRIED = literal_column("1")
FAILED = literal_column("'failed'")
HOUR = timedelta(hours=1)
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Totals:
    counts: dict[str, int]
    retried: int
    duplicates: int
    complaints: int = 0  # messages reported as spam in the range (by the report's time)

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
    per_status = [
        select(func.count())
        .select_from(Message)
        .where(
            Message.status == status,
            *(in_range if status in (MessageStatus.CANCELLED, MessageStatus.BOUNCED) else ()),
        )
        .scalar_subquery()
        for status in waiting
    ]
    # Literals, not parameters, so the planner can prove the partial indexes apply.
    retried = (
        select(func.count())
        .select_from(select(Message.id).where(Message.attempts > RETRIED, *in_range).subquery())
        .scalar_subquery()
    )
    # The handler lists each message sent more than once (`DuplicateSend`).
    # Driven from that short list (a join lets SQLite walk the range's messages instead).
    duplicates = (
        select(func.count())
        .select_from(DuplicateSend)
        .where(exists().where(Message.id == DuplicateSend.message_id, *in_range))
        .scalar_subquery()
    )
    complaints = (
        select(func.count())
        .select_from(Message)
        .where(Message.complained_at >= found.start, Message.complained_at < found.end)
        .scalar_subquery()
    )
    # Every count in one statement: one round trip.
    *found_counts, n_retried, n_duplicates, n_complaints = db.session.execute(
        select(*per_status, retried, duplicates, complaints)
    ).one()
    counts.update(zip(waiting, found_counts, strict=True))
    return Totals(
        counts={status: n for status, n in counts.items() if n},
        retried=n_retried or 0,
        duplicates=n_duplicates or 0,
        complaints=n_complaints or 0,
    )


def sent_series(found: StatsRange) -> list[int]:
    """Messages sent in each bucket of the range (by sent_at), in the order of its buckets.

    The whole UTC hours inside a bucket and before the current hour are read from the hourly
    counts the outcome handler keeps (`sent_hours`); the rest (the current hour, a range ending
    inside an hour, the half hours at the edges of a day in Asia/Kolkata) is counted from the
    rows: one indexed range count per piece.
    """
    buckets = found.buckets()
    ends = [*buckets[1:], found.end]
    kept_until = min(floor_to(found.end, "hour"), floor_to(utcnow(), "hour"))
    kept: dict[int, tuple[datetime, datetime]] = {}
    live: list[tuple[int, datetime, datetime]] = []
    for index, (start, end) in enumerate(zip(buckets, ends, strict=True)):
        first_hour = floor_to(start + HOUR - ONE_MICROSECOND, "hour")
        last_hour = min(floor_to(end, "hour"), kept_until)
        if first_hour >= last_hour:
            live.append((index, start, end))
            continue
        kept[index] = (first_hour, last_hour)
        live += [(index, a, b) for a, b in ((start, first_hour), (last_hour, end)) if a < b]
    sent = [0] * len(buckets)
    if kept:
        for hour, n in sent_in_hours(buckets[0], kept_until).items():
            index = bisect_right(buckets, hour) - 1
            first_hour, last_hour = kept.get(index, (hour, hour))
            if first_hour <= hour < last_hour:
                sent[index] += n
    for first in range(0, len(live), SUBQUERIES_PER_STATEMENT):
        chunk = live[first : first + SUBQUERIES_PER_STATEMENT]
        counts = db.session.execute(
            select(
                *(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.sent_at >= start, Message.sent_at < end)
                    .scalar_subquery()
                    for _, start, end in chunk
                )
            )
        ).one()
        for (index, _, _), n in zip(chunk, counts, strict=True):
            sent[index] += n
    return sent


def failures(found: StatsRange) -> list[tuple[datetime, int | None, str, int]]:
    """Messages that failed in the range, counted by bucket, SMTP code and recipient domain.

    One pass over the failed rows (a partial index holds them with these columns) serves both
    the chart's failed bars and the failure groups. Rows are grouped by their hour or day in the
    range's zone (and the offset they were read with, across a clock change); the earliest time
    of a group places it among the bucket starts computed here.
    """
    bucket, offset = local_bucket(Message.updated_at, found.unit, found.offset_stretches())
    domain = recipient_domain(Message.to_address)
    keys = [bucket, *([offset] if offset is not None else []), Message.last_code, domain]
    rows = db.session.execute(
        select(func.min(Message.updated_at), Message.last_code, domain, func.count())
        .where(Message.status == FAILED, *_active_in(found))
        .group_by(*keys)
    ).all()
    buckets = found.buckets()
    return [
        (buckets[bisect_right(buckets, first) - 1], code, domain or "", n)
        for first, code, domain, n in rows
    ]


def outcome_series(
    found: StatsRange, failed: list[tuple[datetime, int | None, str, int]]
) -> list[SeriesPoint]:
    """Messages sent and failed in each bucket of the range (empty buckets included)."""
    failed_per_bucket: Counter[datetime] = Counter()
    for start, _, _, n in failed:
        failed_per_bucket[start] += n
    return [
        SeriesPoint(start, n_sent, failed_per_bucket[start])
        for start, n_sent in zip(found.buckets(), sent_series(found), strict=True)
    ]


def failure_groups(failed: list[tuple[datetime, int | None, str, int]]) -> list[FailureGroup]:
    """The largest groups of failures by SMTP code and recipient domain (most first; ties by
    code, messages without a code last, then by domain)."""
    groups: Counter[tuple[int | None, str]] = Counter()
    for _, code, domain, n in failed:
        groups[code, domain] += n
    ranked = sorted(
        groups.items(),
        key=lambda item: (-item[1], item[0][0] is None, item[0][0] or 0, item[0][1]),
    )
    return [FailureGroup(code, domain, n) for (code, domain), n in ranked[:FAILURE_GROUPS_SHOWN]]


def compute_statistics(found: StatsRange, *, owner_id: int | None = None) -> Statistics:
    """Everything the statistics page and the API show, for one range. With `owner_id`, the
    per-campaign table and throughput list only that user's campaigns (the totals stay the
    system's: they name no campaign)."""
    without_jit()
    campaigns = campaign_rows(found, owner_id=owner_id)
    failed = failures(found)
    series = outcome_series(found, failed)
    return Statistics(
        range=found,
        totals=totals(found, series),
        series=series,
        failures=failure_groups(failed),
        campaigns=campaigns,
        throughput=throughput(campaigns),
    )
