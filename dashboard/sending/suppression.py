"""The suppression list: addresses that must never be mailed (unsubscribed, bounced, added by
hand or by CSV). Every send checks it; CSV imports drop its addresses up front."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, func, select

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import Suppression, SuppressionReason, record_event

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
