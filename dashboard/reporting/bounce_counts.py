"""Bounces and complaints counted for one campaign (its page shows them), read from the rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import COMPLAINED, SOFT_BOUNCED, Message, MessageStatus


@dataclass(frozen=True)
class BounceCounts:
    bounced: int = 0  # hard bounces: messages now `bounced`
    soft_bounces: int = 0  # soft bounces read back, all messages together
    complaints: int = 0  # messages their recipient reported as spam

    @property
    def any(self) -> bool:
        return bool(self.bounced or self.soft_bounces or self.complaints)


def bounce_counts(campaign_id: int) -> BounceCounts:
    """The campaign's bounces and complaints. Each is read from an index that holds only such
    rows (the few that bounced or complained), never from every row of the campaign: the page
    and the API ask on every poll, and a 100,000-row campaign's rows took 60 ms to read."""
    of_campaign = Message.campaign_id == campaign_id
    bounced = db.session.scalar(
        select(func.count()).where(of_campaign, Message.status == MessageStatus.BOUNCED.value)
    )
    soft = db.session.scalar(
        select(func.coalesce(func.sum(Message.soft_bounces), 0)).where(of_campaign, SOFT_BOUNCED)
    )
    complaints = db.session.scalar(select(func.count()).where(of_campaign, COMPLAINED))
    return BounceCounts(int(bounced or 0), int(soft or 0), int(complaints or 0))
