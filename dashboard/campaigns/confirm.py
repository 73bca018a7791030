"""Confirming a CSV campaign ("Send"): its draft messages become queued and their ids are
published to the bulk queue in chunks of BULK_BATCH_SIZE (after the commit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from dashboard.campaigns.import_report import import_of
from dashboard.extensions import db
from dashboard.models import Campaign, ImportStatus, Message, MessageStatus, record_event, utcnow
from dashboard.sending.publishing import publish_campaign
from dashboard.sending.schedule import check_send_at


class CampaignStateError(ValueError):
    """The campaign cannot do that now (still importing, already sent, cancelled); says why."""


def confirm_campaign(campaign: Campaign, send_at: datetime | None = None) -> int:
    """Queue every draft message of a ready campaign and publish their ids; returns how many.
    With `send_at` the drafts are `scheduled` instead, and the beat dispatcher queues them then.

    CampaignStateError when the import is not ready, the campaign is cancelled, or it was
    confirmed already (a second confirm never sends twice: the drafts are gone); FieldError
    (`send_at`) for a time in the past.
    """
    if send_at is not None:
        send_at = check_send_at(send_at)
    csv_import = import_of(campaign.id)
    if csv_import is not None and csv_import.status != ImportStatus.READY:
        raise CampaignStateError(
            "The file has not finished importing."
            if not csv_import.is_done
            else "The import failed; upload a corrected file."
        )
    if campaign.cancelled_at is not None:
        raise CampaignStateError("The campaign was cancelled.")
    if send_at is None:
        new_state = {"status": MessageStatus.QUEUED}
    else:
        campaign.send_at = send_at
        new_state = {"status": MessageStatus.SCHEDULED, "next_attempt_at": send_at}
    result = db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.DRAFT)
        .values(**new_state, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    queued = result.rowcount or 0
    if queued == 0:
        db.session.rollback()
        raise CampaignStateError("There is nothing left to send: it was confirmed already.")
    record_event(
        "scheduled" if send_at else "sent",
        f"campaign {campaign.id}",
        f"{queued} recipient(s) confirmed"
        + (f", due {send_at:%Y-%m-%d %H:%M} UTC" if send_at else ""),
    )
    db.session.commit()
    if (
        send_at is None and campaign.paused_at is None
    ):  # a paused campaign's messages wait for the resume
        publish_campaign(campaign)
    return queued
