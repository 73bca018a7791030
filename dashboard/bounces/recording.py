"""What a bounce or a complaint does, in one service function: `record_bounce`.

A hard bounce marks its message `bounced` and suppresses the address; a soft bounce adds to the
message's count and suppresses the address once its soft bounces reach SOFT_BOUNCE_THRESHOLD;
a complaint stamps the message and suppresses the address. Each is logged as a
`DeliveryAttempt` with its status code and diagnostic, and the suppression names the message.
Every way a bounce comes in (SMTP receiver, IMAP, SES) ends here, and a report already recorded
for its message (`BounceReceipt`, by the report's key) changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dashboard.bounces.parsing import BounceKind
from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.mail.sentences import english
from dashboard.models import (
    BounceReceipt,
    Campaign,
    DeliveryAttempt,
    Message,
    MessageStatus,
    Suppression,
    SuppressionReason,
    record_event,
    utcnow,
)
from dashboard.sending.holds import pause_campaign
from dashboard.sending.stored_texts import PAUSED_FOR_BOUNCES
from dashboard.webhooks.outbox import enqueue_event

log = logging.getLogger(__name__)

# The attempt log's outcome for each kind.
ATTEMPT_OUTCOMES = {
    BounceKind.HARD: "bounced",
    BounceKind.SOFT: "soft-bounce",
    BounceKind.COMPLAINT: "complained",
}


@dataclass(frozen=True)
class BounceRecorded:
    """What recording one bounce did."""

    message_id: int
    kind: BounceKind
    # False: the same report again, a repeat of a hard bounce or complaint already recorded,
    # or a report about a message never sent
    recorded: bool
    suppressed: bool = False
    paused_campaign: bool = False


def _suppress(address: str, reason: SuppressionReason, note: str, message_id: int) -> bool:
    address = address.lower()
    if db.session.scalar(select(Suppression.id).where(Suppression.address == address)):
        return False
    db.session.add(
        Suppression(address=address, reason=reason, note=note[:500], message_id=message_id)
    )
    record_event("suppressed", address, f"1 address(es), {reason}, message {message_id}")
    return True


def _soft_bounces_of(address: str) -> int:
    return (
        db.session.scalar(
            select(func.coalesce(func.sum(Message.soft_bounces), 0)).where(
                func.lower(Message.to_address) == address.lower()
            )
        )
        or 0
    )


def record_bounce(
    message_id: int,
    kind: BounceKind,
    *,
    status: str = "",
    code: int | None = None,
    diagnostic: str = "",
    source: str = "",
    report_key: str = "",
) -> BounceRecorded:
    """Record a bounce or complaint of a sent message: its state, its attempt log, the
    suppression list and the campaign's bounce-rate guard, in one transaction (then the guard).

    `status` is the enhanced code (5.1.1), `code` the SMTP reply code, `diagnostic` the remote
    server's text, `source` where the report came from (smtp, imap, ses) for the attempt log.
    `report_key` names the report (`parsing.report_key`): the same report recorded again for
    the same message, however it came and even by a concurrent reader, changes nothing, so a
    soft bounce read twice is counted once. A second report of the same hard bounce or
    complaint changes nothing either.
    """
    try:
        return _record(message_id, kind, status, code, diagnostic, source, report_key)
    except IntegrityError:  # a concurrent reader recorded the same report first
        log.info("bounce message=%s: the same report was recorded meanwhile", message_id)
        return BounceRecorded(message_id, kind, recorded=False)


def _record(
    message_id: int,
    kind: BounceKind,
    status: str,
    code: int | None,
    diagnostic: str,
    source: str,
    report_key: str,
) -> BounceRecorded:
    now = utcnow()
    reply = diagnostic if status in diagnostic else f"{status} {diagnostic}".strip()
    with transaction():
        # Locked: reports of one message are recorded one after the other (PostgreSQL).
        message = db.session.get(Message, message_id, with_for_update=True)
        if message is None or message.status not in (MessageStatus.SENT, MessageStatus.BOUNCED):
            return BounceRecorded(message_id, kind, recorded=False)
        receipt = None
        if report_key:
            seen = select(BounceReceipt.id).where(
                BounceReceipt.message_id == message_id, BounceReceipt.report_key == report_key
            )
            if db.session.scalar(seen) is not None:
                log.info("bounce message=%s: this report was recorded already", message_id)
                return BounceRecorded(message_id, kind, recorded=False)
            receipt = BounceReceipt(
                message_id=message_id,
                report_key=report_key,
                kind=kind.value,
                source=source[:20],
                outcome="repeat",
                received_at=now,
            )
            db.session.add(receipt)
            db.session.flush()  # the unique key answers here, before anything is counted
        if (kind is BounceKind.HARD and message.status == MessageStatus.BOUNCED) or (
            kind is BounceKind.COMPLAINT and message.complained_at is not None
        ):
            return BounceRecorded(message_id, kind, recorded=False)
        address = message.to_address
        suppressed = False
        if kind is BounceKind.HARD:
            message.status = MessageStatus.BOUNCED
            message.last_code, message.last_reply = code, reply[:2000]
            message.updated_at = now
            suppressed = _suppress(address, SuppressionReason.BOUNCED, reply, message_id)
        elif kind is BounceKind.SOFT:
            message.soft_bounces += 1
            db.session.flush()
            count = _soft_bounces_of(address)
            if count >= int(current_app.config["SOFT_BOUNCE_THRESHOLD"]):
                note = f"{count} soft bounces; the last: {reply}"
                suppressed = _suppress(address, SuppressionReason.BOUNCED, note, message_id)
        else:
            message.complained_at = now
            suppressed = _suppress(address, SuppressionReason.COMPLAINED, reply, message_id)
        event_data = {"diagnostic": reply[:500], "smtp_code": code, "source": source or None}
        if kind is BounceKind.COMPLAINT:
            enqueue_event(db.session, message, "complained", event_data)
        else:
            enqueue_event(db.session, message, "bounced", {"bounce": kind.value, **event_data})
        db.session.add(
            DeliveryAttempt(
                message_id=message_id,
                outcome=ATTEMPT_OUTCOMES[kind],
                smtp_code=code,
                smtp_reply=reply[:2000],
                worker=f"bounce via {source}"[:200] if source else "bounce",
                finished_at=now,
            )
        )
        if receipt is not None:
            receipt.outcome, receipt.suppressed = "recorded", suppressed
        campaign_id = message.campaign_id
    log.info(
        "bounce message=%s kind=%s code=%s status=%s source=%s suppressed=%s",
        message_id, kind.value, code if code is not None else "-", status or "-",
        source or "-", suppressed,
    )  # fmt: skip
    paused = kind is BounceKind.HARD and pause_on_bounce_rate(campaign_id)
    return BounceRecorded(message_id, kind, True, suppressed, paused)


def pause_on_bounce_rate(campaign_id: int) -> bool:
    """Pause a campaign still sending once BOUNCE_PAUSE_PERCENT of its delivered messages
    bounced (after BOUNCE_PAUSE_MIN_SENT of them): the list is stale, and the sender's
    reputation pays for every further bounce."""
    percent = float(current_app.config["BOUNCE_PAUSE_PERCENT"])
    minimum = int(current_app.config["BOUNCE_PAUSE_MIN_SENT"])
    if percent <= 0:
        return False
    counts = dict(
        db.session.execute(
            select(Message.status, func.count())
            .where(
                Message.campaign_id == campaign_id,
                Message.status.in_([MessageStatus.SENT, MessageStatus.BOUNCED]),
            )
            .group_by(Message.status)
        ).all()
    )
    delivered = sum(counts.values())
    bounced = counts.get(MessageStatus.BOUNCED.value, 0)
    if delivered < max(minimum, 1) or bounced * 100 < percent * delivered:
        return False
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.progress().is_final:
        db.session.rollback()
        return False
    reason = english(
        PAUSED_FOR_BOUNCES, bounced=bounced, delivered=delivered, percent=f"{percent:g}"
    )
    return pause_campaign(campaign, reason)
