"""Drafts: campaigns uploaded but never sent (no message has left `draft`). A person deletes one
from its page; beat removes those nobody touched for DRAFT_MAX_AGE_HOURS, rows and file with them
(the messages, the import, its problems and attachments go by ON DELETE CASCADE)."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, exists, select

from dashboard.campaigns.confirm import CampaignStateError
from dashboard.extensions import db
from dashboard.models import Campaign, CsvImport, ImportStatus, Message, MessageStatus, utcnow
from dashboard.models.audit import record_event

#: An import still running or waiting for a worker keeps its campaign: it is not abandoned yet.
_SETTLED_IMPORTS = (ImportStatus.READY, ImportStatus.FAILED)


def _drafts():
    """Campaigns none of whose messages has left `draft`, never cancelled, whose import (if
    any) is over."""
    sent_on = exists().where(
        Message.campaign_id == Campaign.id, Message.status != MessageStatus.DRAFT
    )
    running = exists().where(
        CsvImport.campaign_id == Campaign.id, CsvImport.status.not_in(_SETTLED_IMPORTS)
    )
    return select(Campaign.id).where(~sent_on, ~running, Campaign.cancelled_at.is_(None))


def is_draft(campaign: Campaign) -> bool:
    return db.session.scalar(_drafts().where(Campaign.id == campaign.id)) is not None


def delete_draft(campaign: Campaign) -> int:
    """Delete a campaign that was never sent, with its rows; returns how many messages went.
    Refused (CampaignStateError) once any message was confirmed, or while its file imports."""
    if not is_draft(campaign):
        raise CampaignStateError(
            _(
                "Only a draft can be deleted: this campaign was sent, scheduled or cancelled, "
                "or its file is still being imported."
            )
        )
    return _delete([campaign.id], reason="deleted by a person")


def remove_abandoned_drafts(max_age: timedelta) -> int:
    """Beat: delete the drafts created more than `max_age` ago; returns how many campaigns."""
    old = list(db.session.scalars(_drafts().where(Campaign.created_at < utcnow() - max_age)))
    if old:
        _delete(old, reason=f"a draft unsent for over {max_age.total_seconds() / 3600:g} h")
    return len(old)


def _delete(campaign_ids: list[int], *, reason: str) -> int:
    messages = db.session.execute(delete(Message).where(Message.campaign_id.in_(campaign_ids)))
    db.session.execute(delete(Campaign).where(Campaign.id.in_(campaign_ids)))
    for campaign_id in campaign_ids:
        record_event("draft-deleted", f"campaign {campaign_id}", reason)
    db.session.commit()
    return messages.rowcount or 0
