"""Pausing, resuming, cancelling and retrying a campaign: the one service the pages, the API,
the CLI and the failure guard all call.

Pausing only sets a flag: workers do not claim a paused campaign's messages, so batches already
on the broker do nothing, and resuming publishes the campaign's waiting messages afresh (the
claim makes any copy still on the broker harmless).
"""

from __future__ import annotations

from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import (
    CANCELLABLE_STATUSES,
    Campaign,
    Message,
    MessageStatus,
    record_event,
    utcnow,
)
from dashboard.sending.publishing import publish_campaign, publish_messages


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
    record_event("resumed", f"campaign {campaign.id}")
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
    record_event("cancelled", f"campaign {campaign.id}", f"{result.rowcount or 0} message(s)")
    db.session.commit()
    return result.rowcount or 0


def retry_failed(campaign: Campaign) -> int:
    """Queue the campaign's failed messages for another round; returns how many."""
    if campaign.cancelled_at is not None:
        return 0
    retried = db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.FAILED)
        .values(status=MessageStatus.QUEUED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    record_event("retried", f"campaign {campaign.id}", f"{retried.rowcount or 0} failed message(s)")
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
