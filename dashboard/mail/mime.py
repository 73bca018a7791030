"""Building a correct MIME message: UTF-8 throughout, a text part always, HTML as an alternative."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from dashboard.mail.addresses import Mailbox
from dashboard.mail.headers import check_header_value

_UNSAFE_FILENAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
# 7-bit transfer encodings (quoted-printable or base64) pass any SMTP server, 8BITMIME or not.
_POLICY = policy.SMTP.clone(cte_type="7bit")


@dataclass(frozen=True)
class AttachmentFile:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class OutgoingEmail:
    """Everything needed to build one message for one recipient."""

    sender: Mailbox
    recipient: Mailbox
    subject: str
    text: str
    message_id: str
    html: str | None = None
    attachments: tuple[AttachmentFile, ...] = ()
    date: datetime | None = None


def new_message_id(domain: str) -> str:
    """A fresh `<...@domain>` Message-ID."""
    return make_msgid(domain=domain or "localhost")


def safe_filename(filename: str) -> str:
    """The last path component, without control characters: no traversal, no header tricks."""
    name = _UNSAFE_FILENAME_CHARS.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    name = name.lstrip(".") or "attachment"
    return name[:255]


def guess_content_type(filename: str, declared: str | None = None) -> str:
    """The declared type when it is a plausible `type/subtype`, else a guess from the name."""
    if declared and re.fullmatch(r"[\w.+-]+/[\w.+-]+", declared):
        return declared.lower()
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def build_message(email: OutgoingEmail) -> bytes:
    """Serialise `email` as RFC 5322 bytes with CRLF line endings, ready for SMTP DATA."""
    subject = check_header_value(email.subject, field="subject")
    message = EmailMessage(policy=_POLICY)
    message["From"] = email.sender.formatted()
    message["To"] = email.recipient.formatted()
    message["Subject"] = subject
    message["Date"] = format_datetime(email.date or datetime.now(UTC))
    message["Message-ID"] = check_header_value(email.message_id, field="Message-ID")
    message.set_content(email.text, charset="utf-8")
    if email.html:
        message.add_alternative(email.html, subtype="html", charset="utf-8")
    for attachment in email.attachments:
        maintype, _, subtype = guess_content_type(
            attachment.filename, attachment.content_type
        ).partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=safe_filename(attachment.filename),
        )
    return message.as_bytes()
