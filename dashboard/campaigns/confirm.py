"""Confirming a CSV campaign ("Send"): its draft messages become queued a batch at a time, each
batch committed and published to the bulk queue at once, so the first messages go while the
rest are being queued and no other writer waits for the whole campaign's UPDATE (on SQLite, a
million rows in one transaction held the write lock for seconds, and every API email with it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from flask_babel import gettext as _
from sqlalchemy import select, update

from dashboard.campaigns.import_report import import_of
from dashboard.extensions import db
from dashboard.models import Campaign, ImportStatus, Message, MessageStatus, record_event, utcnow
from dashboard.sending.publishing import Batch, batch_size_for, publish_batches
from dashboard.sending.schedule import check_send_at
from dashboard.sending.sqlite_turns import write_turn


class CampaignStateError(ValueError):
    """The campaign cannot do that now (still importing, already sent, cancelled); says why."""


def confirm_campaign(campaign: Campaign, send_at: datetime | None = None) -> int:
    """Queue every draft message of a ready campaign and publish their ids; returns how many.
    With `send_at` the drafts are `scheduled` instead, and the beat dispatcher queues them then.

    Each batch of drafts is its own transaction: a confirm cut short (the process stopped)
    leaves the rest as drafts, so the campaign still shows "draft" and a second confirm sends
    what is left. No draft is queued twice, however many confirms run at once.

    CampaignStateError when the import is not ready, the campaign is cancelled, or it was
    confirmed already (a second confirm never sends twice: the drafts are gone); FieldError
    (`send_at`) for a time in the past.
    """
    if send_at is not None:
        send_at = check_send_at(send_at)
    csv_import = import_of(campaign.id)
    if csv_import is not None and csv_import.status != ImportStatus.READY:
        raise CampaignStateError(
            _("The file has not finished importing.")
            if not csv_import.is_done
            else _("The import failed; upload a corrected file.")
        )
    if campaign.cancelled_at is not None:
        raise CampaignStateError(_("The campaign was cancelled."))
    campaign_id, queue = campaign.id, campaign.queue
    # A paused campaign's messages wait for the resume, which publishes them.
    publish = send_at is None and campaign.paused_at is None
    if send_at is None:
        new_state: dict[str, Any] = {"status": MessageStatus.QUEUED}
    else:
        campaign.send_at = send_at
        new_state = {"status": MessageStatus.SCHEDULED, "next_attempt_at": send_at}
    queued = 0
    while True:
        with write_turn(db.engine):
            batch = queue_next_drafts(campaign_id, new_state, batch_size_for(queue), publish)
            if batch is None:
                break
            db.session.commit()
        queued += len(batch.message_ids)
        if publish:
            publish_batches([batch], queue=queue)
    if queued == 0:
        db.session.rollback()
        raise CampaignStateError(_("There is nothing left to send: it was confirmed already."))
    record_event(
        "scheduled" if send_at else "sent",
        f"campaign {campaign_id}",
        f"{queued} recipient(s) confirmed"
        + (f", due {send_at:%Y-%m-%d %H:%M} UTC" if send_at else ""),
    )
    db.session.commit()
    return queued


def queue_next_drafts(
    campaign_id: int, new_state: dict[str, Any], size: int, publish: bool
) -> Batch | None:
    """Move the campaign's next `size` drafts (lowest ids first) to `new_state`, each stamped
    with the task id of the batch that will carry them when they are to be published (so rows
    whose task never reached the broker are told apart, `sending.lost_tasks`); the batch, or
    None when no draft is left. The caller commits."""
    task_id = str(uuid4())
    values = {**new_state, "updated_at": utcnow()}
    if publish:
        values["task_id"] = task_id
    next_drafts = (
        select(Message.id)
        .where(Message.campaign_id == campaign_id, Message.status == MessageStatus.DRAFT)
        .order_by(Message.id)
        .limit(size)
    )
    ids = db.session.scalars(
        update(Message)
        .where(Message.id.in_(next_drafts.scalar_subquery()), Message.status == MessageStatus.DRAFT)
        .values(**values)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    return Batch(task_id, sorted(ids)) if ids else None
