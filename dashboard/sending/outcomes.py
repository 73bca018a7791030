"""Recording outcomes: a chunk of a batch's per-recipient results written to the rows.

Each result sets its message's status (`sent`, `retrying` with the time it goes again, or
`failed`) and adds a `DeliveryAttempt`; sent results move the hourly sent counts
(`sent_counts`). All of it is one transaction, in bulk; the failure guard then looks at the
campaigns of new refusals, and each attempt is logged on one line.

The Celery signal handler (`dashboard.signals`) calls `record_outcomes` inside the app context;
an error rolls back and goes up to it, and the task sees it and writes the chunk again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, insert, update

from dashboard.database import DATABASE_AWAY, transaction
from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult, Outcome
from dashboard.models import DeliveryAttempt, Message, MessageStatus, utcnow
from dashboard.sending.failure_guard import is_failure, pause_failing_campaigns
from dashboard.sending.sent_counts import move_sends
from dashboard.webhooks.outbox import enqueue_outcomes

log = logging.getLogger(__name__)

# Core statements, executed with one parameter set per result: the ORM's bulk paths would
# inspect every row (a fifth of a bulk worker's time) for what these say once.
_MESSAGE = Message.__table__
_UPDATE_MESSAGE = update(_MESSAGE).where(_MESSAGE.c.id == bindparam("key"))
_INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)


def record_outcomes(
    results: Sequence[DeliveryResult],
    retry_at: Mapping[int, datetime | None],
    *,
    worker: str,
    task_id: str | None,
    recipients: Mapping[int, tuple[int, str]] | None = None,
) -> None:
    """Write each result to its message row and log it as an attempt, in one transaction.

    `retry_at` gives, per message, when a transient failure is tried again (the beat dispatcher
    queues it then); None means its retries are used up, so a transient failure is final.
    `recipients` names, per message, its campaign and its recipient's domain for the log line
    (the batch has them in memory already).
    """
    now = utcnow()
    updates = [message_update(result, retry_at, now) for result in results]
    attempts = [attempt_row(result, worker, task_id, now) for result in results]
    sent = [result.key for result in results if result.outcome is Outcome.SENT]
    with transaction():
        _write_outcomes(attempts, sent, updates, now)
        enqueue_outcomes(db.session, updates)  # webhooks' events commit with the outcomes
    try:
        _check_failing_campaigns(results)
    except DATABASE_AWAY as error:  # recorded already: writing them again would log them twice
        log.warning("failure guard skipped (%s): it looks at the next refusals", error)
    log_attempts(results, worker, recipients or {})


def message_update(
    result: DeliveryResult, retry_at: Mapping[int, datetime | None], now: datetime
) -> dict[str, Any]:
    """The columns a result sets on its message row (`key` is the row's id): sent, retrying at
    its retry time, or failed when it was refused or has no retry left."""
    row: dict[str, Any] = {
        "key": result.key,
        "last_code": result.code,
        "last_reply": result.reply[:2000],
        "updated_at": now,
    }
    if result.outcome is Outcome.SENT:
        row.update(status=MessageStatus.SENT, sent_at=now)
    elif result.outcome is Outcome.TRANSIENT and retry_at.get(result.key) is not None:
        row.update(status=MessageStatus.RETRYING, next_attempt_at=retry_at[result.key])
    else:
        row.update(status=MessageStatus.FAILED)
    return row


def attempt_row(
    result: DeliveryResult, worker: str, task_id: str | None, now: datetime
) -> dict[str, Any]:
    """The `DeliveryAttempt` a result adds."""
    return {
        "message_id": result.key,
        "outcome": result.outcome.value,
        "smtp_code": result.code,
        "smtp_reply": result.reply[:2000],
        "worker": worker[:200],
        "task_id": task_id,
        "duration_ms": result.duration_ms,
        "finished_at": now,
    }


def _write_outcomes(
    attempts: list[dict[str, Any]],
    sent: list[int],
    updates: list[dict[str, Any]],
    now: datetime,
) -> None:
    """The transaction's statements, in this order: the attempts, the hourly counts, the rows."""
    db.session.execute(_INSERT_ATTEMPT, attempts)
    # The hourly sent counts need each message's previous sent_at: read after a first
    # write (SQLite takes its write lock there; PostgreSQL locks the rows read) and before
    # the update, so no other writer can change it in between.
    move_sends(sent, now)
    # Consecutive rows of one shape (sent, retrying, failed) go in one executemany, in
    # their order (id order: concurrent writers lock rows alike).
    for _, shaped in groupby(updates, key=lambda row: tuple(row)):
        db.session.execute(_UPDATE_MESSAGE, list(shaped))


def _check_failing_campaigns(results: Sequence[DeliveryResult]) -> None:
    """After the commit: pause the campaigns that new refusals push past the threshold."""
    failing = [r.key for r in results if is_failure(r.outcome.value, r.code)]
    if not failing:  # only a new failure can push a campaign past the threshold
        return
    try:
        pause_failing_campaigns(failing)
    except BaseException:
        db.session.rollback()  # nothing the check read or began stays open
        raise


def log_attempts(
    results: Sequence[DeliveryResult], worker: str, recipients: Mapping[int, tuple[int, str]]
) -> None:
    """One logfmt line per attempt, for log search across hosts: the recipient's domain only,
    never the address, the body or a credential."""
    for result in results:
        campaign_id, domain = recipients.get(result.key, (None, ""))
        log.info(
            "delivery campaign=%s message=%s domain=%s outcome=%s code=%s duration_ms=%s worker=%s",
            campaign_id,
            result.key,
            domain or "-",
            result.outcome.value,
            result.code if result.code is not None else "-",
            result.duration_ms,
            worker or "-",
        )
