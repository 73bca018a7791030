"""A claimed message as the SMTP session sends it: its row's sending columns and its campaign's
content, built into bytes by the mail builder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import selectinload

from dashboard.extensions import db
from dashboard.mail.addresses import Mailbox
from dashboard.mail.mime import AttachmentFile, OutgoingEmail, build_message
from dashboard.mail.smtp import Envelope
from dashboard.models import (
    Campaign,
    Message,
)

#: The columns a batch reads of each message: what its envelope and its retry need.
SENDING_COLUMNS = (
    Message.id,
    Message.campaign_id,
    Message.to_address,
    Message.to_name,
    Message.message_id_header,
    Message.merge_data,
    Message.attempts,
)


def load_for_sending(message_ids: Sequence[int]) -> tuple[list[Row[Any]], dict[int, Campaign]]:
    """The messages' sending columns in id order, and their campaigns with attachments by id.

    Plain rows, not ORM objects: building 500 instrumented objects a batch cost more than the
    queries did.
    """
    messages = list(
        db.session.execute(
            select(*SENDING_COLUMNS).where(Message.id.in_(message_ids)).order_by(Message.id)
        )
    )
    campaigns = db.session.scalars(
        select(Campaign)
        .where(Campaign.id.in_({message.campaign_id for message in messages}))
        .options(selectinload(Campaign.attachments))
    )
    return messages, {campaign.id: campaign for campaign in campaigns}


def envelope_of(message: Row[Any], campaign: Campaign) -> Envelope:
    """A message's bytes, built from its sending columns and its campaign's content."""
    email = OutgoingEmail(
        sender=Mailbox(campaign.from_address, campaign.from_name),
        recipient=Mailbox(message.to_address, message.to_name),
        subject=campaign.subject,
        text=campaign.text_body,
        html=campaign.html_body,
        message_id=message.message_id_header,
        attachments=tuple(
            AttachmentFile(a.filename, a.content_type, a.data) for a in campaign.attachments
        ),
    )
    return Envelope(message.id, campaign.from_address, message.to_address, build_message(email))


def envelopes_for(message_ids: Sequence[int]) -> list[Envelope]:
    """Build each message's bytes from its row and its campaign's content."""
    messages, campaigns = load_for_sending(message_ids)
    return [envelope_of(message, campaigns[message.campaign_id]) for message in messages]
