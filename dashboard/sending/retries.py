"""When a message tries again: the backoff after a transient failure, and handing claimed
messages back unsent (a used-up quota, a limiter out of reach) without counting an attempt."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import (
    Message,
    MessageStatus,
    utcnow,
)


def retry_delay(retries_done: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: about base·2ⁿ seconds, never above cap."""
    ceiling = min(cap, base * (2**retries_done))
    return random.uniform(ceiling / 2, ceiling)


def hand_back(
    message_ids: Sequence[int], *, until: datetime, reason: str, token: str | None = None
) -> int:
    """Return claimed messages that were not tried (a used-up quota, a limiter that could not be
    reached) to `retrying` until `until`, their claim's attempt undone; they do not fail. Given
    the batch's lease `token`, only rows it still holds."""
    if not message_ids:
        return 0
    held = [Message.id.in_(message_ids), Message.status == MessageStatus.SENDING]
    if token is not None:
        held.append(Message.lease_token == token)
    with transaction():
        result = db.session.execute(
            update(Message)
            .where(*held)
            .values(
                status=MessageStatus.RETRYING,
                lease_token=None,
                lease_expires_at=None,
                next_attempt_at=until,
                attempts=Message.attempts - 1,  # the claim counted an attempt never made
                last_reply=reason[:2000],
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    return result.rowcount or 0
