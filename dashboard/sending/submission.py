"""Submitting email: the one service that the form, the API and the CLI all call.

Rows are committed first; only then are their ids published to the broker (enqueue after commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from flask import current_app

from dashboard.database import detached_row, transaction
from dashboard.extensions import db
from dashboard.mail.addresses import Mailbox, parse_mailbox
from dashboard.mail.attachments import AttachmentFile
from dashboard.mail.headers import new_message_id
from dashboard.models import (
    Attachment,
    Campaign,
    IdempotencyKey,
    Message,
    MessageStatus,
    event_values,
    record_event,
)
from dashboard.sending.accounts.registry import AccountProblems, resolve_route
from dashboard.sending.field_errors import FieldError
from dashboard.sending.intake import Submission, message_values, submit_together
from dashboard.sending.publishing import plan_batches, publish_batches
from dashboard.sending.requests import EmailContent
from dashboard.sending.schedule import check_send_at


def default_sender() -> Mailbox:
    return _parsed_sender(current_app.config["MAIL_DEFAULT_SENDER"])


@lru_cache(maxsize=8)
def _parsed_sender(value: str) -> Mailbox:
    # Parsed (and validated) once, not on every request.
    return parse_mailbox(value)


def route_named(name: str | None, from_address: str) -> tuple[int | None, int | None]:
    """The (account id, pool id) that `name` names, or FieldError("account", why not)."""
    try:
        return resolve_route(name, from_address)
    except AccountProblems as problems:
        raise FieldError("account", problems.fields["account"]) from None


def submit_email(
    content: EmailContent,
    *,
    source: str,
    attachments: Sequence[AttachmentFile] = (),
    send_at: datetime | None = None,
    queue: str = "transactional",
    merge: bool = False,
    idempotency_key: IdempotencyKey | None = None,
    owner_id: int | None = None,
) -> Campaign:
    """Store one campaign with a queued message per recipient, then enqueue its ids on `queue`
    (the Celery queue its batches go to, and come back to on resume or retry).

    With `send_at` (aware, or naive UTC) the messages are `scheduled` instead and the beat
    dispatcher queues them when the time comes; a time in the past raises FieldError. With
    `merge`, subject and bodies are templates rendered per recipient ({{ name }}, {{ email }}).
    An `idempotency_key` row is stored with the campaign, in its transaction (see
    `sending.idempotency`).
    `owner_id` is the user who submits it (None from the console).

    A plain submission (sent now, no attachments, no key) is written together with the others
    this process receives at the same time (`sending.intake`), unless INTAKE_GROUP_COMMIT is off.
    """
    if send_at is not None:
        send_at = check_send_at(send_at)
    sender = content.sender or default_sender()
    account_id, pool_id = route_named(content.account, sender.address)
    domain = current_app.config["MAIL_MESSAGE_ID_DOMAIN"] or sender.address.rpartition("@")[2]
    if (
        send_at is None
        and not attachments
        and idempotency_key is None
        and current_app.config.get("INTAKE_GROUP_COMMIT", True)
    ):
        return _submit_together(
            content, sender, domain, source, queue, merge, owner_id, (account_id, pool_id)
        )
    campaign = Campaign(
        source=source,
        queue=queue,
        from_address=sender.address,
        from_name=sender.name,
        subject=content.subject,
        text_body=content.text,
        html_body=content.html or None,
        send_at=send_at,
        merge=merge,
        owner_id=owner_id,
        account_id=account_id,
        pool_id=pool_id,
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
            status=MessageStatus.SCHEDULED if send_at else MessageStatus.QUEUED,
            next_attempt_at=send_at,
            message_id_header=new_message_id(domain),
        )
        for recipient in content.recipients
    ]
    db.session.add(campaign)
    db.session.add_all(messages)
    if idempotency_key is not None:
        idempotency_key.campaign = campaign
        db.session.add(idempotency_key)
    with transaction():
        db.session.flush()
        batches = [] if send_at else plan_batches(messages, campaign.queue)
        record_event(
            "scheduled" if send_at else "sent",
            f"campaign {campaign.id}",
            f"{len(messages)} recipient(s) from {source}"
            + (f", due {send_at:%Y-%m-%d %H:%M} UTC" if send_at else ""),
        )
    publish_batches(batches, queue=campaign.queue)
    return campaign


def _submit_together(
    content: EmailContent,
    sender: Mailbox,
    domain: str,
    source: str,
    queue: str,
    merge: bool,
    owner_id: int | None,
    route: tuple[int | None, int | None],
) -> Campaign:
    """`submit_email` through the group commit; the campaign is returned as a persistent object
    of this session, its columns in hand (the rest load when asked for)."""
    values = {
        "source": source,
        "queue": queue,
        "from_address": sender.address,
        "from_name": sender.name,
        "subject": content.subject,
        "text_body": content.text,
        "html_body": content.html or None,
        "send_at": None,
        "merge": merge,
        "owner_id": owner_id,
        "account_id": route[0],
        "pool_id": route[1],
    }
    recipients = content.recipients
    submission = Submission(
        campaign=values,
        messages=[
            message_values(
                to_address=recipient.address,
                to_name=recipient.name,
                message_id_header=new_message_id(domain),
            )
            for recipient in recipients
        ],
        event=event_values("sent", "", f"{len(recipients)} recipient(s) from {source}"),
    )
    return detached_row(Campaign, {"id": submit_together(submission), **values})
