"""How long delivered and failed events are kept: beat deletes them, with their attempts' logs,
WEBHOOK_RETENTION_DAYS after their last attempt, a bounded chunk at a time.

An event still pending is never deleted, whatever its age; a failed one can be replayed until
it goes. Each chunk is its own short transaction, so a large backlog (the first run after an
upgrade) never holds a lock for long and goes over a few runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import DeliveryState, WebhookAttempt, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

#: Events deleted per transaction, and transactions per run at most (the next run goes on).
PRUNE_CHUNK = 1000
PRUNE_MAX_CHUNKS = 50
_SETTLED = (DeliveryState.DELIVERED.value, DeliveryState.FAILED.value)


def retention_days(config: Mapping[str, Any]) -> float:
    """WEBHOOK_RETENTION_DAYS; 0 keeps every event and attempt for ever."""
    return max(float(config["WEBHOOK_RETENTION_DAYS"]), 0.0)


def prune_settled_events(
    config: Mapping[str, Any],
    *,
    now: datetime | None = None,
    chunk: int = PRUNE_CHUNK,
    max_chunks: int = PRUNE_MAX_CHUNKS,
) -> int:
    """Delete the delivered and failed events (and their attempts) whose last attempt is older
    than the retention, at most `max_chunks` chunks of `chunk`; returns how many events."""
    days = retention_days(config)
    if days <= 0:
        return 0
    # A settled event's next_attempt_at is its last attempt (and the lease that attempt took):
    # the outbox's (state, next_attempt_at) index finds the old ones.
    cutoff = (now or utcnow()) - timedelta(days=days)
    old = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state.in_(_SETTLED), WebhookDelivery.next_attempt_at < cutoff)
        .order_by(WebhookDelivery.id)
        .limit(chunk)
    )
    pruned = 0
    for _ in range(max_chunks):
        ids = list(db.session.scalars(old))
        if not ids:
            break
        # Still settled: one replayed meanwhile is pending again, and stays with its log.
        settled = (WebhookDelivery.id.in_(ids), WebhookDelivery.state.in_(_SETTLED))
        with transaction():
            db.session.execute(
                delete(WebhookAttempt).where(
                    WebhookAttempt.delivery_id.in_(select(WebhookDelivery.id).where(*settled))
                )
            )
            pruned += db.session.execute(delete(WebhookDelivery).where(*settled)).rowcount or 0
    db.session.rollback()
    if pruned:
        log.info("webhooks: %d settled events older than %g days deleted", pruned, days)
    return pruned
