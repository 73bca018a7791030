"""The database side of sending: claiming rows, turning them into envelopes, SMTP settings."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import selectinload

from dashboard.extensions import db
from dashboard.mail.addresses import Mailbox
from dashboard.mail.mime import AttachmentFile, OutgoingEmail, build_message
from dashboard.mail.smtp import Envelope, SmtpSettings
from dashboard.models import (
    CLAIMABLE_STATUSES,
    Campaign,
    Message,
    MessageStatus,
    held_campaigns,
    utcnow,
)


def claim_messages(message_ids: Sequence[int], *, task_id: str | None) -> list[int]:
    """Move claimable rows to `sending` in one conditional UPDATE; return the ids this caller won.

    Two workers given the same ids never both win a row, so no row is sent twice by them.
    Messages of a paused or cancelled campaign are not claimed: they wait for a resume.
    """
    if not message_ids:
        return []
    statement = (
        update(Message)
        .where(
            Message.id.in_(message_ids),
            Message.status.in_(CLAIMABLE_STATUSES),
            Message.campaign_id.not_in(held_campaigns()),
        )
        .values(
            status=MessageStatus.SENDING,
            claimed_at=utcnow(),
            attempts=Message.attempts + 1,
            task_id=task_id,
            next_attempt_at=None,
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    claimed = list(db.session.scalars(statement))
    db.session.commit()
    return sorted(claimed)


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


def smtp_settings(config: Mapping[str, Any]) -> SmtpSettings:
    return SmtpSettings(
        host=config["MAIL_SERVER"],
        port=int(config["MAIL_PORT"]),
        username=config["MAIL_USERNAME"],
        password=config["MAIL_PASSWORD"],
        use_tls=bool(config["MAIL_USE_TLS"]),
        use_ssl=bool(config["MAIL_USE_SSL"]),
        timeout=float(config["MAIL_TIMEOUT"]),
    )


def retry_delay(retries_done: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: about base·2ⁿ seconds, never above cap."""
    ceiling = min(cap, base * (2**retries_done))
    return random.uniform(ceiling / 2, ceiling)
