"""The per-campaign numbers of the statistics page: each recent campaign's counts, duration and
speed, and messages delivered per minute during the latest ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select

from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, counts_by_state
from dashboard.reporting.ranges import StatsRange
from dashboard.sending.time_buckets import LABEL_FORMATS, floor_to, time_bucket

CAMPAIGNS_SHOWN = 25
THROUGHPUT_CAMPAIGNS = 3
THROUGHPUT_MAX_MINUTES = 180


def overall_rate(
    sent: int, first_sent: datetime | None, last_sent: datetime | None
) -> float | None:
    """Messages delivered per second from the first delivery to the last, as the campaign page
    and the statistics page both show it; None until two deliveries are apart in time."""
    if not sent or first_sent is None or last_sent is None:
        return None
    span = (last_sent - first_sent).total_seconds()
    return sent / span if span > 0 else None


@dataclass(frozen=True)
class CampaignRow:
    id: int
    subject: str
    created_at: datetime
    counts: dict[str, int]
    first_sent: datetime | None
    last_sent: datetime | None
    merge: bool = False  # the subject is a template: a page shows it as a title

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
        return overall_rate(self.sent, self.first_sent, self.last_sent)


@dataclass(frozen=True)
class Throughput:
    campaign_id: int
    subject: str
    per_minute: list[tuple[datetime, int]]
    merge: bool = False

    @property
    def peak(self) -> int:
        return max((count for _, count in self.per_minute), default=0)


def campaign_rows(found: StatsRange, *, owner_id: int | None = None) -> list[CampaignRow]:
    """The most recent campaigns created in the range (only `owner_id`'s, when given), with
    their counts and speed."""
    first_sent = (
        select(func.min(Message.sent_at))
        .where(Message.campaign_id == Campaign.id, Message.sent_at.is_not(None))
        .scalar_subquery()
    )
    last_sent = (
        select(func.max(Message.sent_at))
        .where(Message.campaign_id == Campaign.id, Message.sent_at.is_not(None))
        .scalar_subquery()
    )
    query = select(
        Campaign.id, Campaign.subject, Campaign.created_at, first_sent, last_sent, Campaign.merge
    ).where(Campaign.created_at >= found.start, Campaign.created_at < found.end)
    if owner_id is not None:
        query = query.where(Campaign.owner_id == owner_id)
    campaigns = db.session.execute(query.order_by(Campaign.id.desc()).limit(CAMPAIGNS_SHOWN)).all()
    counts = counts_by_state([row.id for row in campaigns])
    return [
        CampaignRow(cid, subject, created, _by_name(counts[cid]), first, last, bool(merge))
        for cid, subject, created, first, last, merge in campaigns
    ]


def _by_name(counts: dict[MessageStatus, int]) -> dict[str, int]:
    return {status.value: n for status, n in counts.items()}


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
        found.append(Throughput(campaign.id, campaign.subject, points, campaign.merge))
    return found
