"""Confirming a CSV campaign ("Send"): its draft messages become queued and their ids are
published to the bulk queue in chunks of BULK_BATCH_SIZE (after the commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import uuid4

from flask import current_app
from sqlalchemy import select, update

from .dispatch import Batch, publish_batches
from .extensions import db
from .import_report import import_of
from .mailing_models import ImportStatus
from .models import Campaign, Message, MessageStatus, utcnow


class CampaignStateError(ValueError):
    """The campaign cannot do that now (still importing, already sent, cancelled); says why."""


def confirm_campaign(campaign: Campaign, send_at: datetime | None = None) -> int:
    """Queue every draft message of a ready campaign and publish their ids; returns how many.

    CampaignStateError when the import is not ready, the campaign is cancelled, or it was
    confirmed already (a second confirm never sends twice: the drafts are gone).
    """
    if send_at is not None:
        raise NotImplementedError("Scheduling a campaign for later is not available yet.")
    csv_import = import_of(campaign.id)
    if csv_import is not None and csv_import.status != ImportStatus.READY:
        raise CampaignStateError(
            "The file has not finished importing."
            if not csv_import.is_done
            else "The import failed; upload a corrected file."
        )
    if campaign.cancelled_at is not None:
        raise CampaignStateError("The campaign was cancelled.")
    result = db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.DRAFT)
        .values(status=MessageStatus.QUEUED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    queued = result.rowcount or 0
    if queued == 0:
        raise CampaignStateError("There is nothing left to send: it was confirmed already.")
    if campaign.paused_at is None:  # a paused campaign's messages wait for the resume
        publish_campaign(campaign)
    return queued


def publish_campaign(
    campaign: Campaign, statuses: Sequence[MessageStatus] = (MessageStatus.QUEUED,)
) -> int:
    """Publish the ids of the campaign's messages in `statuses`, in chunks; returns how many."""
    ids = list(
        db.session.scalars(
            select(Message.id)
            .where(Message.campaign_id == campaign.id, Message.status.in_(statuses))
            .order_by(Message.id)
        )
    )
    size = max(1, current_app.config["BULK_BATCH_SIZE"])
    batches = [Batch(str(uuid4()), ids[i : i + size]) for i in range(0, len(ids), size)]
    publish_batches(batches, queue=campaign.queue)
    return len(ids)
