"""Pausing, resuming, cancelling and retrying a campaign: the one service the pages, the API,
the CLI and the failure guard all call.

Pausing only sets a flag: workers do not claim a paused campaign's messages, so batches already
on the broker do nothing, and resuming publishes the campaign's waiting messages afresh (the
claim makes any copy still on the broker harmless).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import select, update

from dashboard.campaign_confirm import publish_campaign
from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, held_campaigns, utcnow
from dashboard.requeue import publish_messages

# Messages that have not been handed to a worker yet, and so can still be cancelled.
CANCELLABLE_STATUSES = (
    MessageStatus.DRAFT,
    MessageStatus.SCHEDULED,
    MessageStatus.QUEUED,
    MessageStatus.RETRYING,
)


def pause_campaign(campaign: Campaign, reason: str = "Paused by a person.") -> bool:
    """Stop handing out the campaign's messages; messages already in flight finish.

    Returns False when there was nothing to pause (already paused or cancelled).
    """
    if campaign.paused_at is not None or campaign.cancelled_at is not None:
        return False
    campaign.paused_at = utcnow()
    campaign.pause_reason = reason[:2000]
    db.session.commit()
    return True


def resume_campaign(campaign: Campaign) -> int:
    """Clear the pause and publish the campaign's queued messages again; returns how many.

    `retrying` messages are left to the beat dispatcher, which queues each when its backoff is
    over (a resume must not turn a server's "try later" into "now").
    """
    if campaign.paused_at is None or campaign.cancelled_at is not None:
        return 0
    campaign.paused_at = None
    campaign.pause_reason = None
    campaign.resumed_at = utcnow()  # the failure guard starts counting afresh
    return _requeue(campaign, (MessageStatus.QUEUED,))


def cancel_campaign(campaign: Campaign) -> int:
    """Cancel every message not yet handed to a worker; returns how many were cancelled."""
    if campaign.cancelled_at is None:
        campaign.cancelled_at = utcnow()
    result = db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status.in_(CANCELLABLE_STATUSES))
        .values(status=MessageStatus.CANCELLED, updated_at=utcnow(), next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount or 0


def retry_failed(campaign: Campaign) -> int:
    """Queue the campaign's failed messages for another round; returns how many."""
    if campaign.cancelled_at is not None:
        return 0
    db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.FAILED)
        .values(status=MessageStatus.QUEUED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if campaign.paused_at is not None:  # they wait for the resume
        db.session.commit()
        return 0
    return _requeue(campaign, (MessageStatus.QUEUED,))


def _requeue(campaign: Campaign, statuses: tuple[MessageStatus, ...]) -> int:
    """Publish the campaign's messages in `statuses` in fresh batches (after the commit)."""
    if campaign.queue == "bulk":
        # Ids only, in BULK_BATCH_SIZE chunks: a bulk campaign may have a million rows waiting.
        db.session.commit()
        return publish_campaign(campaign, statuses)
    message_ids = list(
        db.session.scalars(
            select(Message.id)
            .where(Message.campaign_id == campaign.id, Message.status.in_(statuses))
            .order_by(Message.id)
        )
    )
    db.session.commit()
    publish_messages(message_ids)
    return len(message_ids)


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
            self.held = set(
                db.session.scalars(held_campaigns().where(Campaign.id.in_(self.campaign_ids)))
            )
            db.session.rollback()  # end the read transaction: the next check sees new flags
        return campaign_id in self.held


def release_unsent(message_ids: Sequence[int]) -> int:
    """Give back messages a worker claimed but did not send: cancelled with a cancelled
    campaign, otherwise queued again (and published again if their campaign was resumed
    meanwhile). Returns how many were given back."""
    if not message_ids:
        return 0
    ids = list(message_ids)
    cancelled = select(Campaign.id).where(Campaign.cancelled_at.is_not(None))
    in_flight = (Message.id.in_(ids), Message.status == MessageStatus.SENDING)
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
