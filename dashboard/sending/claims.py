"""Claiming messages before sending them: one conditional UPDATE moves `queued` or `retrying`
rows to `sending` for one batch task under a lease (its token and expiry, `leases`), so two
workers given the same ids never both send a row; and taking over the rows a dead delivery of
the same batch left in `sending`, once their lease has run out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, insert, or_, update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import (
    CLAIMABLE_STATUSES,
    DeliveryAttempt,
    Message,
    MessageStatus,
    held_campaigns,
    utcnow,
)
from dashboard.sending.id_lists import among_ids, dialect_name, ids_parameter
from dashboard.sending.leases import lease_expiry
from dashboard.sending.sqlite_turns import write_turn

log = logging.getLogger(__name__)


def claim_messages(
    message_ids: Sequence[int], *, task_id: str | None, token: str, lease_seconds: float
) -> list[int]:
    """Move claimable rows to `sending` by a conditional UPDATE (two when some rows do not
    carry this task's id yet), under the caller's lease; return the ids this caller won.

    Two workers given the same ids never both win a row, so no row is sent twice by them.
    Messages of a paused or cancelled campaign are not claimed: they wait for a resume.
    """
    if not message_ids:
        return []
    now = utcnow()
    dialect = dialect_name()
    table = Message.__table__
    claimable = (
        among_ids(table.c.id, dialect),
        table.c.status.in_(CLAIMABLE_STATUSES),
        table.c.campaign_id.not_in(held_campaigns()),
    )
    values = {
        "status": MessageStatus.SENDING,
        "claimed_at": now,
        "lease_token": token,
        "lease_expires_at": lease_expiry(lease_seconds, now),
        "attempts": table.c.attempts + 1,
        "next_attempt_at": None,
    }
    ids = {"ids": ids_parameter(message_ids, dialect)}
    # Rows that the confirm or the intake stamped with this task's id are claimed without
    # writing it again: a column in the SET list costs its index entry's rewrite, whatever its
    # value (about 2.6 µs a row on SQLite). The others (published again without a stamp: a
    # retry, a resume, the dispatcher's) are claimed by a second statement that sets it.
    with write_turn(db.engine):
        claimed: list[int] = []
        if task_id is not None:
            stamped = update(table).where(*claimable, table.c.task_id == task_id)
            claimed = list(db.session.scalars(stamped.values(values).returning(table.c.id), ids))
        if len(claimed) < len(message_ids):
            rest = update(table).where(*claimable)
            if task_id is not None:
                rest = rest.where(or_(table.c.task_id.is_(None), table.c.task_id != task_id))
            rest = rest.values({**values, "task_id": task_id}).returning(table.c.id)
            claimed += db.session.scalars(rest, ids)
        db.session.commit()
    return sorted(claimed)


STALE_OUTCOME = "stale"


def claim_batch(
    message_ids: Sequence[int],
    *,
    task_id: str,
    redelivered: bool,
    token: str,
    lease_seconds: float,
) -> list[int]:
    """The ids a delivery of a batch task may send, all under its lease `token`: its `queued` or
    `retrying` rows, claimed; and, when the broker delivers the task again, first the rows an
    earlier delivery of it left in `sending` with their lease run out (taken over, resent once).
    In that order: taken over after the claim, the rows just claimed would count as orphans,
    and an unsent message be logged as a possible duplicate.
    """
    lease = {"token": token, "lease_seconds": lease_seconds}
    orphans = take_over_orphans(message_ids, task_id=task_id, **lease) if redelivered else []
    claimed = claim_messages(message_ids, task_id=task_id, **lease)
    return sorted({*claimed, *orphans})


def lease_ran_out(now: datetime, lease_seconds: float) -> ColumnElement[bool]:
    """The condition of a `sending` row whose lease has run out (rows claimed before leases
    existed: a lease's time after their claim)."""
    return or_(
        Message.lease_expires_at < now,
        and_(
            Message.lease_expires_at.is_(None),
            Message.claimed_at < now - timedelta(seconds=lease_seconds),
        ),
    )


def take_over_orphans(
    message_ids: Sequence[int], *, task_id: str | None, token: str, lease_seconds: float
) -> list[int]:
    """For a batch the broker delivered again (its worker died mid-batch, or Redis thought so):
    take over its rows still `sending` under this same task id whose lease has run out, once.
    A row whose lease still runs may belong to a delivery still at work, and is left alone
    (the sweeper gives it out when the lease runs out).

    Like the sweeper's stale resend: each may already have reached the server, so it is resent
    at most once, logged as a `stale` attempt and counted in `stale_resends`.
    """
    if not message_ids or not task_id:
        return []
    now = utcnow()
    with transaction():
        taken = list(
            db.session.scalars(
                update(Message)
                .where(
                    Message.id.in_(message_ids),
                    Message.status == MessageStatus.SENDING,
                    Message.task_id == task_id,
                    Message.stale_resends == 0,
                    lease_ran_out(now, lease_seconds),
                )
                .values(
                    stale_resends=Message.stale_resends + 1,
                    attempts=Message.attempts + 1,
                    claimed_at=now,
                    lease_token=token,
                    lease_expires_at=lease_expiry(lease_seconds, now),
                    updated_at=now,
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        reply = "its worker died mid-batch; resent once (it may arrive twice)"
        log_stale_attempts(taken, now, reply, by=f"redelivered {task_id}")
    if taken:
        log.warning("task %s took over %d orphaned messages", task_id, len(taken))
    return sorted(taken)


def log_stale_attempts(message_ids: Sequence[int], now: datetime, reply: str, *, by: str) -> None:
    """Log a `stale` attempt for each message resent after its worker stopped mid-batch."""
    if message_ids:
        db.session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "message_id": message_id,
                    "outcome": STALE_OUTCOME,
                    "smtp_reply": reply,
                    "worker": by[:200],
                    "finished_at": now,
                }
                for message_id in message_ids
            ],
        )
