"""The beat dispatcher: every `scheduled` or `retrying` message whose time has come is queued
with one conditional UPDATE, committed, then published (time is a column, not a Celery ETA).
`queued` rows whose task the broker refused (`publishing.mark_unpublished`) carry a due time too,
and are published again the same way."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import (
    Message,
    MessageStatus,
    held_campaigns,
    utcnow,
)
from dashboard.sending.accounts.routes import waiting_campaigns
from dashboard.sending.publishing import publish_messages

log = logging.getLogger(__name__)


# Rows one beat run moves at most; the next run takes the rest a second or two later.
MAX_ROWS_PER_RUN = 10_000


def dispatch_due(now: datetime | None = None) -> int:
    """Queue every `scheduled` or `retrying` message whose time has come (campaigns that are not
    paused or cancelled) with one conditional UPDATE, then publish them, with the `queued` ones
    the broker refused earlier; returns how many.

    While every account a campaign may use is held, its messages are not queued: the rows wait
    in the database, and go at the first run after a probe lifts a hold."""
    now = now or utcnow()
    due = (
        Message.status.in_((MessageStatus.SCHEDULED, MessageStatus.RETRYING, MessageStatus.QUEUED)),
        Message.next_attempt_at <= now,
        Message.campaign_id.not_in(held_campaigns()),
    )
    waiting = waiting_campaigns(current_app.config)  # every account they may use is held
    if waiting is not None:
        due = (*due, Message.campaign_id.not_in(waiting))
    candidates = list(
        db.session.scalars(
            select(Message.id).where(*due).order_by(Message.next_attempt_at).limit(MAX_ROWS_PER_RUN)
        )
    )
    if not candidates:
        db.session.rollback()
        return 0
    with transaction():
        moved = list(
            db.session.scalars(
                update(Message)
                .where(Message.id.in_(candidates), *due)
                .values(status=MessageStatus.QUEUED, next_attempt_at=None, updated_at=now)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
    publish_messages(sorted(moved))
    if moved:
        log.info("dispatched %d due messages", len(moved))
    return len(moved)
