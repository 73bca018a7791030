"""One way in for every report, whichever road it took: find the message it is about, then
`record_bounce`.

The message is named by its own signed bounce address first (in the envelope recipient, or
anywhere in the report: its To, the returned message's Return-Path); a report without one
(sent through a provider that rewrites the envelope sender, such as Gmail) is matched by the
returned message's Message-ID, which must belong to a message sent to the address that
bounced. A report that names no message of ours is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select

from dashboard.bounces.parsing import BounceReport, parse_report
from dashboard.bounces.recording import BounceRecorded, record_bounce
from dashboard.extensions import db
from dashboard.mail.verp import message_ids_in, verp_key
from dashboard.models import Message

log = logging.getLogger(__name__)


def bounce_domain_of(address: str, config: Mapping[str, Any]) -> bool:
    """Whether mail to `address` is for the bounce domain."""
    domain = config.get("BOUNCE_DOMAIN", "")
    return bool(domain) and address.rpartition("@")[2].lower() == domain


def _verp_ids(raw: bytes, rcpt_tos: Iterable[str], config: Mapping[str, Any]) -> list[int]:
    domain = config.get("BOUNCE_DOMAIN", "")
    if not domain:
        return []
    local = config.get("BOUNCE_LOCAL_PART", "bounces")
    key = verp_key(config.get("BOUNCE_SECRET") or config["SECRET_KEY"])
    envelope = "\n".join(rcpt_tos).encode("utf-8", "replace")
    return message_ids_in(envelope, local, domain, key) or message_ids_in(raw, local, domain, key)


def _by_message_id(report: BounceReport) -> int | None:
    if not report.original_message_id or not report.recipients:
        return None
    return db.session.scalar(
        select(Message.id)
        .where(
            Message.message_id_header.in_(
                [report.original_message_id, f"<{report.original_message_id}>"]
            ),
            func.lower(Message.to_address).in_(report.recipients),
        )
        .limit(1)
    )


def take_in_report(
    raw: bytes, config: Mapping[str, Any], *, rcpt_tos: Iterable[str] = (), source: str = ""
) -> BounceRecorded | None:
    """Read one received report and record it against its message; None when it is not a
    bounce or a complaint, or names no message of ours."""
    report = parse_report(raw)
    if report is None:
        log.info("bounce source=%s ignored: not a bounce or complaint report", source or "-")
        return None
    return record_report(report, config, envelope=rcpt_tos, raw=raw, source=source)


def record_report(
    report: BounceReport,
    config: Mapping[str, Any],
    *,
    envelope: Iterable[str] = (),
    raw: bytes = b"",
    source: str = "",
) -> BounceRecorded | None:
    """Record a parsed report against the message its bounce address (in `envelope`, then in
    `raw`) or its Message-ID names; None when it names none of ours."""
    ids = _verp_ids(raw, envelope, config)
    message_id = ids[0] if ids else _by_message_id(report)
    db.session.rollback()  # the look-up's read ends here; recording opens its own transaction
    if message_id is None:
        log.info("bounce source=%s ignored: it names no message sent from here", source or "-")
        return None
    return record_bounce(
        message_id,
        report.kind,
        status=report.status,
        code=report.code,
        diagnostic=report.reply,
        source=source,
        report_key=report.key,
    )
