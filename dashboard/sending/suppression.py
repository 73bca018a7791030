"""The suppression list: addresses that must never be mailed (unsubscribed, bounced, added by
hand or by CSV). Every send checks it; CSV imports drop its addresses up front."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, func, select

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import Message, Suppression, SuppressionReason, WebhookEvent, record_event
from dashboard.webhooks.outbox import OutcomeEvent, enqueue_events

# Rows per IN (...) query: well under every database's limit on bound parameters.
LOOKUP_CHUNK = 900
# One statement, compiled once: the addresses are bound at execution, not coerced one by one.
_LOOKUP = select(Suppression.address).where(
    Suppression.address.in_(bindparam("addresses", expanding=True))
)


def suppressed_among(addresses: Iterable[str]) -> set[str]:
    """The lower-cased addresses among `addresses` that are on the list."""
    wanted = sorted({address.lower() for address in addresses})
    found: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        found.update(
            db.session.scalars(_LOOKUP, {"addresses": wanted[start : start + LOOKUP_CHUNK]})
        )
    return found


def suppress(addresses: Iterable[str], reason: SuppressionReason, note: str = "") -> int:
    """Add addresses (already validated) to the list and commit; returns how many were new."""
    wanted = {address.lower() for address in addresses}
    new = sorted(wanted - suppressed_among(wanted))
    with transaction():
        db.session.add_all(
            Suppression(address=address, reason=reason, note=note[:500]) for address in new
        )
        if new:
            record_event("suppressed", ", ".join(new), f"{len(new)} address(es), {reason}")
    return len(new)


def unsubscribe_recipient(address: str, campaign_id: int) -> bool:
    """A recipient's one-click unsubscribe from a campaign's mail: the address goes on the list
    and, in the same transaction, the `unsubscribed` webhook event of the campaign's message to
    it is written. Returns whether the address was new on the list (a second click, or an
    address already suppressed, changes nothing and tells no one again)."""
    address = address.lower()
    with transaction():
        if suppressed_among([address]):
            return False
        db.session.add(
            Suppression(
                address=address,
                reason=SuppressionReason.UNSUBSCRIBED,
                note=f"one-click, campaign {campaign_id}",
            )
        )
        record_event("suppressed", address, f"1 address(es), {SuppressionReason.UNSUBSCRIBED}")
        messages = db.session.scalars(
            select(Message.id).where(
                Message.campaign_id == campaign_id, func.lower(Message.to_address) == address
            )
        )
        enqueue_events(
            db.session,
            [OutcomeEvent(message_id, WebhookEvent.UNSUBSCRIBED) for message_id in messages],
        )
    return True


def unsuppress(address: str) -> bool:
    """Take an address off the list; returns whether it was there."""
    result = db.session.execute(delete(Suppression).where(Suppression.address == address.lower()))
    if result.rowcount:
        record_event("unsuppressed", address.lower())
    db.session.commit()
    return bool(result.rowcount)


def suppression_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Suppression)) or 0


def recent_suppressions(limit: int) -> list[Suppression]:
    """The newest entries of the list, newest first."""
    return list(
        db.session.scalars(select(Suppression).order_by(Suppression.id.desc()).limit(limit))
    )
