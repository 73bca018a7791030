"""Submitting email: the one service that the form, the API and the CLI all call.

Rows are committed first; only then are their ids published to the broker (enqueue after commit).
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app

from .dispatch import plan_batches, publish_batches
from .extensions import db
from .mail.addresses import Mailbox, parse_mailbox
from .mail.mime import AttachmentFile, new_message_id
from .models import Attachment, Campaign, Message, MessageStatus
from .schemas import EmailContent


def default_sender() -> Mailbox:
    return parse_mailbox(current_app.config["MAIL_DEFAULT_SENDER"])


def submit_email(
    content: EmailContent,
    *,
    source: str,
    attachments: Sequence[AttachmentFile] = (),
    merge: bool = False,
) -> Campaign:
    """Store one campaign with a queued message per recipient, then enqueue its ids.

    With `merge`, subject and bodies are templates rendered per recipient ({{ name }},
    {{ email }}).
    """
    sender = content.sender or default_sender()
    domain = current_app.config["MAIL_MESSAGE_ID_DOMAIN"] or sender.address.rpartition("@")[2]
    campaign = Campaign(
        source=source,
        queue="transactional",
        from_address=sender.address,
        from_name=sender.name,
        subject=content.subject,
        text_body=content.text,
        html_body=content.html or None,
        merge=merge,
        attachments=[
            Attachment(filename=f.filename, content_type=f.content_type, data=f.data)
            for f in attachments
        ],
    )
    messages = [
        Message(
            campaign=campaign,
            to_address=recipient.address,
            to_name=recipient.name,
            status=MessageStatus.QUEUED,
            message_id_header=new_message_id(domain),
        )
        for recipient in content.recipients
    ]
    db.session.add(campaign)
    db.session.add_all(messages)
    try:
        db.session.flush()
        batches = plan_batches(messages, current_app.config["MAIL_BATCH_SIZE"])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    publish_batches(batches, queue=campaign.queue)
    return campaign
