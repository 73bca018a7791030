"""Reading a bounce or complaint report: which kind it is, whom it is about, the status code and
the diagnostic text, and the returned message's Message-ID.

DSNs (RFC 3464, `multipart/report; report-type=delivery-status`) are read field by field;
bounces in the older non-standard formats go through `flufl.bounce`'s detectors; complaints
are ARF reports (RFC 5965, `report-type=feedback-report`). No Flask, no database.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message as MimeMessage
from email.utils import parseaddr
from enum import StrEnum

from flufl.bounce import all_failures

log = logging.getLogger(__name__)

# A report bigger than this is not read (a bounce that returns a large message whole).
MAX_REPORT_BYTES = 2 * 1024 * 1024
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"(?<![\d.])([245]\d\d)(?:[ :-]|$)")
# A multi-line reply's continuation prefixes (`550-5.1.1 `), kept only at its start.
_CONTINUATION = re.compile(r"\s+[245]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\s+)?")
_QUOTED_MESSAGE_ID = re.compile(r"^Message-ID:\s*<([^>\s]+)>", re.IGNORECASE | re.MULTILINE)


class BounceKind(StrEnum):
    HARD = "hard"  # permanent (5.x.x): the address is suppressed at once
    SOFT = "soft"  # transient (4.x.x): counted; suppressed past SOFT_BOUNCE_THRESHOLD
    COMPLAINT = "complaint"  # the recipient marked it as spam (ARF)


@dataclass
class BounceReport:
    kind: BounceKind
    recipients: list[str] = field(default_factory=list)
    status: str = ""  # the enhanced status code, e.g. 5.1.1
    code: int | None = None  # the SMTP reply code, e.g. 550
    diagnostic: str = ""
    original_message_id: str = ""  # the returned message's Message-ID, without <>
    # Names the report itself, the same however it came (see `report_key`): empty, not known.
    key: str = ""

    @property
    def reply(self) -> str:
        """The diagnostic as the attempt log shows it: status code and text."""
        text = " ".join(self.diagnostic.split())
        if self.status and self.status not in text:
            text = f"{self.status} {text}".strip()
        return text[:2000]


def _parse(raw: bytes) -> MimeMessage:
    return message_from_bytes(raw, policy=policy.compat32)


def _address(value: str) -> str:
    """`rfc822; someone@example.com` (a DSN field) or a plain address, lower-cased."""
    _, _, value = value.rpartition(";")
    return parseaddr(value.strip())[1].lower()


def _reply_code(text: str) -> int | None:
    match = _REPLY_CODE.search(text.strip())
    return int(match.group(1)) if match else None


def _original_message_id(message: MimeMessage) -> str:
    """The Message-ID of the returned message (message/rfc822 or text/rfc822-headers part)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, MimeMessage) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip().strip("<>")
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            body = part.get_payload(decode=True) or b""
            headers = message_from_bytes(body, policy=policy.compat32)
            if headers.get("Message-ID"):
                return str(headers["Message-ID"]).strip().strip("<>")
    return ""


def _report_part(message: MimeMessage, kind: str) -> MimeMessage | None:
    for part in message.walk():
        if part.get_content_type() == kind:
            return part
    return None


def _dsn(message: MimeMessage) -> BounceReport | None:
    """A DSN's first failed or delayed recipient, with its status and diagnostic."""
    part = _report_part(message, "message/delivery-status")
    if part is None:
        return None
    blocks = part.get_payload()
    if isinstance(blocks, str):  # some servers write the fields as one text block
        blocks = [
            message_from_bytes(block.encode(), policy=policy.compat32)
            for block in re.split(r"\r?\n\r?\n", blocks)
            if block.strip()
        ]
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        recipient = _address(
            str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
        )
        if action not in ("failed", "delayed") or not recipient:
            continue
        found = _STATUS.search(status)
        status = found.group(0) if found else ""
        diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")[2].strip()
        diagnostic = _CONTINUATION.sub(" ", " ".join(diagnostic.split()))
        kind = (
            BounceKind.HARD
            if action == "failed" and not status.startswith("4")
            else BounceKind.SOFT
        )
        return BounceReport(
            kind,
            [recipient],
            status=status,
            code=_reply_code(diagnostic),
            diagnostic=" ".join(diagnostic.split()) or status,
            original_message_id=_original_message_id(message),
        )
    return None


def _arf(message: MimeMessage) -> BounceReport | None:
    part = _report_part(message, "message/feedback-report")
    if part is None:
        return None
    fields = part.get_payload()
    block = fields[0] if isinstance(fields, list) and fields else None
    if not isinstance(block, MimeMessage):
        text = part.get_payload(decode=True) or b""
        block = message_from_bytes(text, policy=policy.compat32)
    feedback = str(block.get("Feedback-Type", "abuse")).strip().lower()
    recipient = _address(str(block.get("Original-Rcpt-To", "")))
    reporter = str(block.get("Reporting-MTA", "")).partition(";")[2].strip()
    return BounceReport(
        BounceKind.COMPLAINT,
        [recipient] if recipient else [],
        diagnostic=f"complaint ({feedback}) reported by {reporter or 'the recipient'}",
        original_message_id=_original_message_id(message),
    )


def _first_text(message: MimeMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True) or b""
            return body.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def _non_standard(message: MimeMessage) -> BounceReport | None:
    """The older formats (Exim's, Yahoo's, qmail's...), through flufl.bounce's detectors."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector tripping on a damaged message (an empty one: IndexError)
        log.info("no bounce detector could read a message; taken as not a report", exc_info=True)
        return None
    addresses = permanent or temporary
    if not addresses:
        return None
    recipients = sorted(
        a.decode("utf-8", "replace").lower() if isinstance(a, bytes) else str(a).lower()
        for a in addresses
    )
    text = _first_text(message)
    diagnostic = ""
    for line in text.splitlines():  # the remote server's reply, as the bounce quotes it
        if _REPLY_CODE.search(line.strip()):
            diagnostic = line.strip()
            if _STATUS.search(line) or len(diagnostic) > 12:
                break
    found = _STATUS.search(diagnostic)
    status = found.group(0) if found else ("5.0.0" if permanent else "4.0.0")
    return BounceReport(
        BounceKind.HARD if permanent else BounceKind.SOFT,
        recipients,
        status=status,
        code=_reply_code(diagnostic),
        diagnostic=diagnostic or status,
        original_message_id=_original_message_id(message) or _quoted_message_id(text),
    )


def _quoted_message_id(text: str) -> str:
    """The Message-ID of a message a text bounce quotes inline (the last one it shows)."""
    found = _QUOTED_MESSAGE_ID.findall(text)
    return found[-1] if found else ""


def report_key(kind: str, value: str | bytes) -> str:
    """The key a report is known by (SHA-256, hex): `kind` says what names it (message-id,
    ses, date-and-body), `value` is that name or the report's bytes."""
    data = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return hashlib.sha256(kind.encode() + b":" + data).hexdigest()


def _key_of(message: MimeMessage, raw: bytes) -> str:
    """A received report's key: its own Message-ID, which the servers it passes through leave
    alone (they add trace headers at the top); without one, what they leave alone too: its Date
    and its body, line endings aside. (Its whole bytes would differ between two routes, the
    built-in receiver and the mailbox, and the one report would count twice.)"""
    own_id = str(message.get("Message-ID") or "").strip().strip("<>").strip()
    if own_id:
        return report_key("message-id", own_id)
    text = raw.replace(b"\r\n", b"\n")
    body = text.partition(b"\n\n")[2]
    date = str(message.get("Date") or "").strip()
    return report_key("date-and-body", date.encode("utf-8", "replace") + b"\n" + body)


def parse_report(raw: bytes) -> BounceReport | None:
    """What a message received at the bounce address reports, or None when it is neither a
    bounce nor a complaint (an auto-reply, a person writing back)."""
    if len(raw) > MAX_REPORT_BYTES:
        raw = raw[:MAX_REPORT_BYTES]
    message = _parse(raw)
    report = _arf(message) or _dsn(message) or _non_standard(message)
    if report is not None:
        report.key = _key_of(message, raw)
    return report
