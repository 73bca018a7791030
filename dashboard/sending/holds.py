"""Holding a campaign back: a pause is a flag that workers check before they claim and while
they send (every 0.2 s), so a paused or cancelled campaign's batches stop soon; what a stopped
batch claimed and did not send is given back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from sqlalchemy import select, update

from dashboard.database import DATABASE_AWAY
from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, held_campaigns, record_event, utcnow
from dashboard.sending.publishing import publish_messages
from dashboard.sending.stored_texts import PAUSED_BY_A_PERSON


def pause_campaign(campaign: Campaign, reason: str = PAUSED_BY_A_PERSON) -> bool:
    """Stop handing out the campaign's messages; messages already in flight finish.

    Returns False when there was nothing to pause (already paused or cancelled).
    """
    if campaign.paused_at is not None or campaign.cancelled_at is not None:
        return False
    campaign.paused_at = utcnow()
    campaign.pause_reason = reason[:2000]
    record_event("paused", f"campaign {campaign.id}", reason)
    db.session.commit()
    return True


class HoldWatch:
    """Tells a sending batch, at most every `interval` seconds, which of its campaigns a person
    has paused or cancelled since it started, so the batch stops soon after."""

    def __init__(self, campaign_ids: set[int], interval: float = 0.2) -> None:
        self.campaign_ids = sorted(campaign_ids)
        self.interval = interval
        self.checked = 0.0
        self.held: set[int] = set()

    def holds(self, campaign_id: int) -> bool:
        now = time.monotonic()
        if now - self.checked >= self.interval:
            self.checked = now
            # The database away: the last answer stands; the batch's lease decides the rest.
            with contextlib.suppress(*DATABASE_AWAY):
                self.held = set(
                    db.session.scalars(held_campaigns().where(Campaign.id.in_(self.campaign_ids)))
                )
            db.session.rollback()  # end the read transaction: the next check sees new flags
        return campaign_id in self.held


def release_unsent(message_ids: Sequence[int], *, token: str | None = None) -> int:
    """Give back messages a worker claimed but did not send: cancelled with a cancelled
    campaign, otherwise queued again (and published again unless their campaign is paused: it
    was resumed meanwhile, or the batch's time slice was over). Given the batch's lease
    `token`, only rows it still holds. Returns how many."""
    if not message_ids:
        return 0
    ids = list(message_ids)
    cancelled = select(Campaign.id).where(Campaign.cancelled_at.is_not(None))
    in_flight = (Message.id.in_(ids), Message.status == MessageStatus.SENDING)
    if token is not None:
        in_flight = (*in_flight, Message.lease_token == token)
    now = utcnow()
    db.session.execute(
        update(Message)
        .where(*in_flight, Message.campaign_id.in_(cancelled))
        .values(status=MessageStatus.CANCELLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    requeued = db.session.execute(
        update(Message)
        .where(*in_flight)
        .values(
            status=MessageStatus.QUEUED,
            attempts=Message.attempts - 1,
            claimed_at=None,
            lease_token=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(Message.id, Message.campaign_id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    campaign_ids = {campaign_id for _, campaign_id in requeued}
    held = set(db.session.scalars(held_campaigns().where(Campaign.id.in_(campaign_ids))))
    # Resumed while this batch was stopping: its resume did not see these messages.
    publish_messages(
        [message_id for message_id, campaign_id in requeued if campaign_id not in held]
    )
    return len(ids)
