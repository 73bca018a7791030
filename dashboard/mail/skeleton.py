"""The one builder of outgoing mail: every message, a single email as well as a campaign's, is
rendered here from a MIME skeleton built once per batch.

Building an `EmailMessage` costs about 2.8 ms; a campaign's messages differ only in To, Subject,
Message-ID, the unsubscribe link and the two bodies. So the constant bytes (From, Date, MIME
structure, boundaries, attachments already in base64) are made once, and each recipient costs
only the encoding of what varies: the headers by `header_encoding` (RFC 2047 where plain ASCII
would not read back exactly), quoted-printable for the bodies by `quoted_printable`, where the
lines of a template's literal text were encoded with the skeleton. UTF-8 throughout, 7-bit on
the wire, a text part always, HTML as an alternative.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email import policy
from email.message import MIMEPart
from email.utils import format_datetime
from typing import NamedTuple

from dashboard.mail.addresses import Mailbox
from dashboard.mail.attachments import AttachmentFile, guess_content_type, safe_filename
from dashboard.mail.dot_stuffing import double_dots
from dashboard.mail.header_encoding import CRLF, header_line, mailbox_header, subject_header
from dashboard.mail.headers import check_header_value
from dashboard.mail.quoted_printable import Body, BodyEncoder

# 7-bit transfer encodings (quoted-printable or base64) pass any SMTP server, 8BITMIME or not.
_ATTACHMENT_POLICY = policy.SMTP.clone(cte_type="7bit")


class Personalised(NamedTuple):
    """What differs from one recipient to the next. A body is a string, or the pieces a merge
    template rendered it in (see `MergeTemplate.literals` and `layout.Filled`)."""

    recipient: Mailbox
    subject: str
    text: Body
    html: Body | None
    message_id: str
    unsubscribe_url: str | None = None


def _boundary(seed: str | None, kind: str) -> str:
    """A boundary no line of a part can start with: quoted-printable writes `=` as `=3D` (so
    never `==`), base64 has no `-`, and header lines start with a name. Given a seed, the same
    one each time, so a page that rebuilds a message shows the bytes the worker sends."""
    if seed is None:
        return "==" + secrets.token_hex(16) + "=="
    return "==" + hashlib.sha256(f"{seed}:{kind}".encode()).hexdigest()[:32] + "=="


def _text_part_headers(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
    ).encode("ascii")


def _attachment_part(attachment: AttachmentFile) -> bytes:
    maintype, _, subtype = guess_content_type(
        attachment.filename, attachment.content_type
    ).partition("/")
    part = MIMEPart(policy=_ATTACHMENT_POLICY)
    part.set_content(
        attachment.data,
        maintype=maintype,
        subtype=subtype,
        filename=safe_filename(attachment.filename),
    )
    return part.as_bytes()


class MimeSkeleton:
    """The parts of a campaign's messages that do not vary, ready to take each recipient's.
    `literals`: text the bodies are made of for every recipient (a merge template's literal
    pieces, or a plain campaign's bodies), whose lines are encoded here once."""

    def __init__(
        self,
        sender: Mailbox,
        *,
        has_html: bool,
        attachments: Sequence[AttachmentFile] = (),
        list_unsubscribe: bool = False,
        date: datetime | None = None,
        boundary_seed: str | None = None,
        literals: Iterable[str] = (),
    ) -> None:
        self.has_html = has_html
        self.list_unsubscribe = list_unsubscribe
        self._from = mailbox_header("From", sender)
        self._date = f"Date: {format_datetime(date or datetime.now(UTC))}\r\n".encode("ascii")
        self._bodies = BodyEncoder(literals)
        # The bytes around the encoded bodies, after the headers that vary.
        opening, closing = b"MIME-Version: 1.0\r\n", b""
        if attachments:
            mixed = _boundary(boundary_seed, "mixed").encode("ascii")
            opening += b'Content-Type: multipart/mixed; boundary="' + mixed + b'"\r\n\r\n'
            opening += b"--" + mixed + CRLF
            parts = (b"--" + mixed + CRLF + _attachment_part(a) + CRLF for a in attachments)
            closing = CRLF + b"".join(parts) + b"--" + mixed + b"--" + CRLF
        self._text_only = (opening + _text_part_headers("plain") + CRLF, closing)
        self._alternatives: tuple[bytes, bytes, bytes] | None = None
        if has_html:
            alternative = _boundary(boundary_seed, "alternative").encode("ascii")
            self._alternatives = (
                opening
                + b'Content-Type: multipart/alternative; boundary="'
                + alternative
                + b'"\r\n\r\n--'
                + alternative
                + CRLF
                + _text_part_headers("plain")
                + CRLF,
                CRLF + b"--" + alternative + CRLF + _text_part_headers("html") + CRLF,
                CRLF + b"--" + alternative + b"--" + CRLF + closing,
            )
        # The same with their leading dots doubled (each starts a line), for SMTP's DATA.
        before, after = self._text_only
        self._text_only_doubled = (double_dots(before), double_dots(after))
        self._alternatives_doubled: tuple[bytes, bytes, bytes] | None = None
        if self._alternatives is not None:
            before, between, after = self._alternatives
            self._alternatives_doubled = (
                double_dots(before),
                double_dots(between),
                double_dots(after),
            )

    def render(self, message: Personalised, *, dots_doubled: bool = False) -> bytes:
        """The whole message for one recipient, as RFC 5322 bytes with CRLF line ends; with
        `dots_doubled`, as it goes after SMTP's DATA (`dot_stuffing`), for less than doubling
        them in the whole message. Header lines never start with a dot: each starts with its
        field's name, or with the space of a fold, and no value may hold a line break."""
        parts = [
            self._from,
            mailbox_header("To", message.recipient),
            subject_header(message.subject),
            self._date,
            header_line("Message-ID", check_header_value(message.message_id, field="Message-ID")),
        ]
        if self.list_unsubscribe and message.unsubscribe_url:
            url = check_header_value(message.unsubscribe_url, field="unsubscribe URL")
            parts.append(header_line("List-Unsubscribe", f"<{url}>", field="unsubscribe URL"))
            parts.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        if self._alternatives is None or message.html is None:
            opening, closing = self._text_only_doubled if dots_doubled else self._text_only
            parts += (
                opening,
                *self._bodies.encode(message.text, dots_doubled=dots_doubled),
                closing,
            )
        else:
            opening, between, closing = (
                self._alternatives_doubled if dots_doubled else self._alternatives
            )
            text, html = self._bodies.encode(message.text, message.html, dots_doubled=dots_doubled)
            parts += (opening, text, between, html, closing)
        return b"".join(parts)
