"""Celery signal handlers: the one place where sending outcomes are written to the rows.

Handlers run outside the app context a task pushes (see `celery/app/trace.py`), so each
pushes its own, writes in bulk, and commits or rolls back itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from celery.signals import task_failure, worker_process_init
from celery.utils.dispatch import Signal
from sqlalchemy import bindparam, insert, update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult, Outcome
from dashboard.models import DeliveryAttempt, Message, MessageStatus, utcnow
from dashboard.sending.failure_guard import is_failure, pause_failing_campaigns
from dashboard.sending.queues import SEND_BATCH
from dashboard.sending.sent_counts import move_sends

log = logging.getLogger(__name__)

#: Sent by a task with a chunk of per-recipient results, as they come in.
delivery_results = Signal(name="delivery_results")

# Core statements, executed with one parameter set per result: the ORM's bulk paths would
# inspect every row (a fifth of a bulk worker's time) for what these say once.
_MESSAGE = Message.__table__
_UPDATE_MESSAGE = update(_MESSAGE).where(_MESSAGE.c.id == bindparam("key"))
_INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)


def _flask_app(sender: Any):
    return sender.app.flask_app


def record_delivery_results(
    sender: Any,
    results: Sequence[DeliveryResult],
    retry_at: Mapping[int, datetime | None],
    worker: str,
    task_id: str | None,
    recipients: Mapping[int, tuple[int, str]] | None = None,
    **_: Any,
) -> None:
    """Write each result to its message row and log it as an attempt, in two bulk statements.

    `retry_at` gives, per message, when a transient failure is tried again (the beat dispatcher
    queues it then); None means its retries are used up, so a transient failure is final.
    `recipients` names, per message, its campaign and its recipient's domain for the log line
    (the batch has them in memory already).
    """
    now = utcnow()
    rows = []
    for result in results:
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
        rows.append(row)
    attempts = [
        {
            "message_id": result.key,
            "outcome": result.outcome.value,
            "smtp_code": result.code,
            "smtp_reply": result.reply[:2000],
            "worker": worker[:200],
            "task_id": task_id,
            "duration_ms": result.duration_ms,
            "finished_at": now,
        }
        for result in results
    ]
    with _flask_app(sender).app_context():
        try:
            db.session.execute(_INSERT_ATTEMPT, attempts)
            # The hourly sent counts need each message's previous sent_at: read after a first
            # write (SQLite takes its write lock there; PostgreSQL locks the rows read) and before
            # the update, so no other writer can change it in between.
            move_sends([r.key for r in results if r.outcome is Outcome.SENT], now)
            # Consecutive rows of one shape (sent, retrying, failed) go in one executemany, in
            # their order (id order: concurrent writers lock rows alike).
            for _, shaped in groupby(rows, key=lambda row: tuple(row)):
                db.session.execute(_UPDATE_MESSAGE, list(shaped))
            db.session.commit()
            failing = [r.key for r in results if is_failure(r.outcome.value, r.code)]
            if failing:  # only a new failure can push a campaign past the threshold
                pause_failing_campaigns(failing)
        except BaseException:
            db.session.rollback()
            raise
    # One logfmt line per attempt, for log search across hosts: the recipient's domain only,
    # never the address, the body or a credential.
    recipients = recipients or {}
    for result in results:
        job, domain = recipients.get(result.key, (None, ""))
        log.info(
            "delivery job=%s message=%s domain=%s outcome=%s code=%s duration_ms=%s worker=%s",
            job,
            result.key,
            domain or "-",
            result.outcome.value,
            result.code if result.code is not None else "-",
            result.duration_ms,
            worker or "-",
        )


def fail_unfinished_batch(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Sequence[Any] = (),
    **_: Any,
) -> None:
    """A batch task that crashed leaves no row in `sending`: they fail, with the error kept."""
    if sender is None or getattr(sender, "name", "") != SEND_BATCH or not args:
        return
    reply = f"worker error: {type(exception).__name__}: {exception}"[:2000]
    with _flask_app(sender).app_context(), transaction():
        db.session.execute(
            update(Message)
            .where(Message.id.in_(args[0]), Message.status == MessageStatus.SENDING)
            .values(status=MessageStatus.FAILED, last_reply=reply, updated_at=utcnow())
        )
    log.error("batch %s failed: %s", task_id, reply)


def _fresh_connections_after_fork(**_: Any) -> None:
    # Pooled connections inherited from the parent process must not be shared across forks.
    from celery import current_app as celery

    app = getattr(celery, "flask_app", None)
    if app is not None:
        with app.app_context():
            db.engine.dispose(close=False)


def connect_signal_handlers() -> None:
    """Connect every handler once per process (dispatch_uid makes repeats harmless)."""
    delivery_results.connect(record_delivery_results, weak=False, dispatch_uid="record_results")
    task_failure.connect(fail_unfinished_batch, weak=False, dispatch_uid="fail_unfinished")
    worker_process_init.connect(
        _fresh_connections_after_fork, weak=False, dispatch_uid="fresh_connections"
    )
