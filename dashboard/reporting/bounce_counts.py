"""Bounces and complaints counted for one campaign (its page shows them), read from the rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from dashboard.extensions import db
from dashboard.models import Message, MessageStatus


@dataclass(frozen=True)
class BounceCounts:
    bounced: int = 0  # hard bounces: messages now `bounced`
    soft_bounces: int = 0  # soft bounces read back, all messages together
    complaints: int = 0  # messages their recipient reported as spam

    @property
    def any(self) -> bool:
        return bool(self.bounced or self.soft_bounces or self.complaints)


def bounce_counts(campaign_id: int) -> BounceCounts:
    """The campaign's bounces and complaints, in one query."""
    bounced, soft, complaints = db.session.execute(
        select(
            func.count(case((Message.status == MessageStatus.BOUNCED.value, 1))),
            func.coalesce(func.sum(Message.soft_bounces), 0),
            func.count(Message.complained_at),
        ).where(Message.campaign_id == campaign_id)
    ).one()
    return BounceCounts(int(bounced or 0), int(soft or 0), int(complaints or 0))
