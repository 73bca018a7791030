"""Pausing, resuming, cancelling and retrying a campaign: the one service the pages, the API,
the CLI and the failure guard all call.

Pausing only sets a flag: workers do not claim a paused campaign's messages, so batches already
on the broker do nothing, and resuming publishes the campaign's waiting messages afresh (the
claim makes any copy still on the broker harmless).
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, update

from .dispatch import plan_batches, publish_batches
from .extensions import db
from .models import CLAIMABLE_STATUSES, Campaign, Message, MessageStatus, utcnow

# Messages that have not been handed to a worker yet, and so can still be cancelled.
CANCELLABLE_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.RETRYING)


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
    """Clear the pause and publish every waiting message again; returns how many."""
    if campaign.paused_at is None or campaign.cancelled_at is not None:
        return 0
    campaign.paused_at = None
    campaign.pause_reason = None
    campaign.resumed_at = utcnow()  # the failure guard starts counting afresh
    return _requeue(campaign, CLAIMABLE_STATUSES)


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
    messages = db.session.scalars(
        select(Message)
        .where(Message.campaign_id == campaign.id, Message.status.in_(statuses))
        .order_by(Message.id)
    ).all()
    try:
        batches = plan_batches(messages, current_app.config["MAIL_BATCH_SIZE"])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    publish_batches(batches, queue=campaign.queue)
    return len(messages)
