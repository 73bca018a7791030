"""Retrying one failed message and cancelling one waiting message: the service the history
page (and any API or CLI verb after it) calls.

Both change the row with one conditional UPDATE, so a worker claiming the same row at the same
moment wins or loses cleanly: a message is never both cancelled and sent.
"""

from __future__ import annotations

from sqlalchemy import update

from dashboard.extensions import db
from dashboard.models import (
    CANCELLABLE_STATUSES,
    Campaign,
    Message,
    MessageStatus,
    record_event,
    utcnow,
)
from dashboard.sending.publishing import publish_messages


class MessageActionRefused(Exception):
    """The action does not apply to the message in its current state; the text says why."""


def retry_message(message: Message) -> None:
    """Queue a failed message for another try and publish it (after the commit)."""
    campaign = db.session.get(Campaign, message.campaign_id)
    if campaign is not None and campaign.cancelled_at is not None:
        raise MessageActionRefused(
            "Its campaign was cancelled, so its messages are not sent again."
        )
    changed = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == MessageStatus.FAILED)
        .values(status=MessageStatus.QUEUED, updated_at=utcnow(), next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        db.session.rollback()
        raise MessageActionRefused(
            f"Only a failed message can be retried; this one is {message.status}."
        )
    record_event("retried", f"message {message.id}", f"of campaign {message.campaign_id}")
    db.session.commit()
    db.session.refresh(message)
    if campaign is None or campaign.paused_at is None:  # a paused job sends it on resume
        publish_messages([message.id])


def cancel_message(message: Message) -> None:
    """Cancel a message that no worker has taken yet (scheduled, queued or retrying)."""
    changed = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status.in_(CANCELLABLE_STATUSES))
        .values(status=MessageStatus.CANCELLED, updated_at=utcnow(), next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        record_event("cancelled", f"message {message.id}", f"of campaign {message.campaign_id}")
    db.session.commit()
    if not changed:
        db.session.refresh(message)
        raise MessageActionRefused(
            f"Only a message waiting to be sent can be cancelled; this one is {message.status}."
        )
    db.session.refresh(message)
