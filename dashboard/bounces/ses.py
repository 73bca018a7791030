"""Amazon SES bounce and complaint notifications, delivered by Amazon SNS to an HTTP endpoint.

Every SNS message is checked before it is believed: its signing certificate must come over
HTTPS from an SNS host of amazonaws.com (tests may name one loopback host besides,
SNS_TRUSTED_CERT_HOST), and its signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA)
must verify over the fields SNS signs. A SubscriptionConfirmation is confirmed by visiting its
SubscribeURL (checked the same way); a Notification's SES bounce or complaint is recorded
against the message its envelope sender (the bounce address) or its Message-ID names.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dashboard.bounces.intake import record_report
from dashboard.bounces.parsing import BounceKind, BounceReport, report_key

log = logging.getLogger(__name__)

MAX_NOTIFICATION_BYTES = 512 * 1024  # SNS messages are at most 256 KB
MAX_CERT_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 5
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
_certificates: dict[str, x509.Certificate] = {}  # by URL: SNS signs with few certificates


class SnsRejected(ValueError):
    """The request is not a genuine SNS message for this endpoint; the reason says why."""


@dataclass(frozen=True)
class SnsOutcome:
    kind: str  # confirmed, recorded, ignored
    detail: str = ""


def trusted_url(url: str, config: Mapping[str, Any]) -> bool:
    """An SNS URL (signing certificate, subscription) that may be fetched: HTTPS on an SNS host
    of amazonaws.com, or, for tests, the loopback host SNS_TRUSTED_CERT_HOST names."""
    parts = urlsplit(url)
    if parts.scheme == "https" and _SNS_HOST.match(parts.hostname or ""):
        return True
    test_host = config.get("SNS_TRUSTED_CERT_HOST", "")
    return bool(test_host) and parts.netloc == test_host and parts.hostname in _LOOPBACK


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return response.read(MAX_CERT_BYTES + 1)


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The fields SNS signs, in its order, each `name\\nvalue\\n` (Subject only when present)."""
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise SnsRejected(f"unknown SNS message type {message.get('Type')!r}")
    lines = []
    for name in fields:
        if name == "Subject" and message.get("Subject") is None:
            continue
        if not isinstance(message.get(name), str):
            raise SnsRejected(f"the SNS field {name} is missing")
        lines.append(f"{name}\n{message[name]}\n")
    return "".join(lines).encode()


def verify_sns(
    message: Mapping[str, Any],
    config: Mapping[str, Any],
    fetch: Callable[[str], bytes] = _fetch,
) -> None:
    """Raise SnsRejected unless the message carries a valid SNS signature."""
    version = str(message.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)
    if algorithm is None:
        raise SnsRejected(f"unsupported SignatureVersion {version!r}")
    url = str(message.get("SigningCertURL", ""))
    if not trusted_url(url, config):
        raise SnsRejected("the signing certificate is not on an amazonaws.com SNS host")
    certificate = _certificates.get(url)
    if certificate is None:
        try:
            pem = fetch(url)
        except OSError as error:
            raise SnsRejected(f"the signing certificate cannot be fetched: {error}") from None
        if len(pem) > MAX_CERT_BYTES:
            raise SnsRejected("the signing certificate is too large")
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SnsRejected("the signing certificate cannot be read") from None
        _certificates[url] = certificate
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsRejected("the signing certificate's key is not RSA")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError) as error:
        if isinstance(error, SnsRejected):
            raise
        raise SnsRejected("the signature does not verify") from None


def _feedback_key(feedback: Mapping[str, Any]) -> str:
    """SES's own id of a bounce or complaint (`feedbackId`), the same in every copy SNS sends."""
    found = str(feedback.get("feedbackId") or "").strip()
    return report_key("ses", found) if found else ""


def _ses_report(notification: Mapping[str, Any]) -> tuple[BounceReport, str] | None:
    """SES's bounce or complaint as a report, with the envelope sender it names."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail") or {}
    headers = mail.get("commonHeaders") or {}
    message_id = str(headers.get("messageId") or "").strip().strip("<>")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        [first, *_] = bounce.get("bouncedRecipients") or [{}]
        diagnostic = str(first.get("diagnosticCode") or "").partition(";")[2].strip() or str(
            first.get("diagnosticCode") or bounce.get("bounceSubType") or ""
        )
        status = str(first.get("status") or "")
        code = re.match(r"\s*([245]\d\d)\b", diagnostic)
        hard = bounce.get("bounceType") == "Permanent"
        report = BounceReport(
            BounceKind.HARD if hard else BounceKind.SOFT,
            [str(first.get("emailAddress") or "").lower()],
            status=status,
            code=int(code.group(1)) if code else None,
            diagnostic=diagnostic or str(bounce.get("bounceSubType") or ""),
            original_message_id=message_id,
            key=_feedback_key(bounce),
        )
    elif kind == "Complaint":
        complaint = notification.get("complaint") or {}
        [first, *_] = complaint.get("complainedRecipients") or [{}]
        feedback = complaint.get("complaintFeedbackType") or "abuse"
        report = BounceReport(
            BounceKind.COMPLAINT,
            [str(first.get("emailAddress") or "").lower()],
            diagnostic=f"complaint ({feedback}) reported through Amazon SES",
            original_message_id=message_id,
            key=_feedback_key(complaint),
        )
    else:
        return None
    return report, str(mail.get("source") or "")


def handle_sns(
    body: bytes, config: Mapping[str, Any], fetch: Callable[[str], bytes] = _fetch
) -> SnsOutcome:
    """Check and act on one SNS request body. Raises SnsRejected for what is not genuine."""
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise SnsRejected("the notification is larger than SNS sends")
    try:
        message = json.loads(body)
    except ValueError:
        raise SnsRejected("the body is not JSON") from None
    if not isinstance(message, dict):
        raise SnsRejected("the body is not an SNS message")
    verify_sns(message, config, fetch)
    topics = [t for t in config.get("SES_SNS_TOPIC_ARNS", "").split(",") if t.strip()]
    if topics and message.get("TopicArn") not in [t.strip() for t in topics]:
        raise SnsRejected("the topic is not one this endpoint takes")
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        if not trusted_url(url, config):
            raise SnsRejected("the SubscribeURL is not on an amazonaws.com SNS host")
        try:
            fetch(url)
        except OSError as error:
            raise SnsRejected(f"the subscription could not be confirmed: {error}") from None
        log.info("SNS subscription confirmed for %s", message.get("TopicArn"))
        return SnsOutcome("confirmed", str(message.get("TopicArn")))
    if kind == "UnsubscribeConfirmation":
        return SnsOutcome("ignored", "unsubscribed")
    try:
        notification = json.loads(message["Message"])
    except ValueError:
        return SnsOutcome("ignored", "the notification's Message is not JSON")
    found = _ses_report(notification) if isinstance(notification, dict) else None
    if found is None:
        return SnsOutcome("ignored", "not a bounce or a complaint")
    report, source = found
    # SNS may deliver a notification more than once, each copy with the same MessageId.
    report.key = report.key or report_key("sns", str(message.get("MessageId") or ""))
    outcome = record_report(report, config, envelope=[source], source="ses")
    if outcome is None or not outcome.recorded:
        return SnsOutcome("ignored", "it names no message sent from here, or was recorded")
    return SnsOutcome("recorded", report.kind.value)
