"""The database side of sending: claiming rows, turning them into envelopes, SMTP settings."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from .extensions import db
from .mail.addresses import Mailbox
from .mail.mime import AttachmentFile, OutgoingEmail, build_message
from .mail.smtp import Envelope, SmtpSettings
from .models import CLAIMABLE_STATUSES, Campaign, Message, MessageStatus, held_campaigns, utcnow


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


def load_for_sending(message_ids: Sequence[int]) -> list[Message]:
    """The messages with their campaigns and attachments, in id order, in three queries."""
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.id.in_(message_ids))
            .options(selectinload(Message.campaign).selectinload(Campaign.attachments))
            .order_by(Message.id)
        ).all()
    )


def envelope_of(message: Message) -> Envelope:
    """A message's bytes, built from its row and its campaign's content."""
    campaign = message.campaign
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
    return [envelope_of(message) for message in load_for_sending(message_ids)]


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
