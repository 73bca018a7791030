"""Celery signal handlers: the one place where sending outcomes are written to the rows.

Handlers run outside the app context a task pushes (see `celery/app/trace.py`), so each
pushes its own, writes in bulk, and commits or rolls back itself.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from celery import current_app as current_celery_app
from celery.signals import task_failure, worker_process_init
from celery.utils.dispatch import Signal
from sqlalchemy import update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult
from dashboard.models import Message, MessageStatus, utcnow
from dashboard.sending.outcomes import record_outcomes
from dashboard.sending.queues import SEND_BATCH
from dashboard.webhooks.outbox import enqueue_failures

log = logging.getLogger(__name__)

#: Sent by a task with a chunk of per-recipient results, as they come in.
delivery_results = Signal(name="delivery_results")


def _flask_app(sender: Any):
    return sender.app.flask_app


def record_delivery_results(
    sender: Any,
    results: Sequence[DeliveryResult],
    retry_at: Mapping[int, datetime | None],
    worker: str,
    task_id: str | None,
    recipients: Mapping[int, tuple[int, str]] | None = None,
    subjects: Mapping[int, str] | None = None,
    **_: Any,
) -> bool:
    """The `delivery_results` handler: record a chunk of the task's results
    (`sending.outcomes`) in this app's context. Returns True once they are committed.

    An error is rolled back and raised; Celery's `Signal.send` logs it and hands it back in its
    list of responses, which the task reads (`recorded`): it keeps the results, stops sending
    and writes them again once the database answers.
    """
    with _flask_app(sender).app_context():
        record_outcomes(
            results,
            retry_at,
            worker=worker,
            task_id=task_id,
            recipients=recipients,
            subjects=subjects,
        )
    return True


def recorded(responses: Sequence[tuple[Any, Any]]) -> None:
    """Raise what a handler of `delivery_results` raised (Celery's `send` returns it instead);
    raise too when no handler answered: results nobody wrote are not recorded."""
    if not responses:
        raise RuntimeError("no handler is connected to delivery_results: outcomes not recorded")
    for _, response in responses:
        if isinstance(response, BaseException):
            raise response


def fail_unfinished_batch(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Sequence[Any] = (),
    **_: Any,
) -> None:
    """A batch task that crashed leaves no row of its own in `sending`: they fail, with the error
    kept. Rows another batch holds now (its lease ran out and they were given out again) are
    not this task's."""
    if sender is None or getattr(sender, "name", "") != SEND_BATCH or not args:
        return
    reply = f"worker error: {type(exception).__name__}: {exception}"[:2000]
    with _flask_app(sender).app_context(), transaction():
        failed_ids = db.session.scalars(
            update(Message)
            .where(
                Message.id.in_(args[0]),
                Message.status == MessageStatus.SENDING,
                Message.task_id == task_id,
            )
            .values(status=MessageStatus.FAILED, last_reply=reply, updated_at=utcnow())
            .returning(Message.id)
        ).all()
        enqueue_failures(db.session, failed_ids, reply)
    log.error("batch %s failed: %s", task_id, reply)


def _freeze_startup_objects(**_: Any) -> None:
    # What a pool process holds before its first task (the app, its modules, templates and
    # mappers) lives as long as the process: out of the collector's sight, a full collection
    # no longer walks its ~180,000 objects, which cost a bulk worker 4-5% of its CPU.
    gc.freeze()


def _fresh_connections_after_fork(**_: Any) -> None:
    # Pooled connections inherited from the parent process must not be shared across forks.
    app = getattr(current_celery_app, "flask_app", None)
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
    worker_process_init.connect(_freeze_startup_objects, weak=False, dispatch_uid="freeze_gc")
