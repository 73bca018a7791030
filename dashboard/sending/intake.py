"""Group commit: the submissions that one process receives at the same time are written in one
transaction, each request answers once the commit that holds its rows is done (nothing is
acknowledged that is not stored), and a publisher thread of the process hands the committed ids
to the broker behind the answers.

There is no timer: the first request to arrive writes what is waiting, and those that arrive
while it does wait for the next write, which one of them makes. Under no load a group is one
submission; under load it holds what arrived during one write. Rows go in by Core INSERTs with
RETURNING (one statement per table), with their batch's task id in hand before the insert.

Batches outlive groups: while the publisher is busy, the groups committed meanwhile fill the
same open batch (up to the queue's batch size, its task id stamped on each of their rows), so
one publish carries what several writes stored. A process that dies between a commit and the
publish leaves its rows `queued` with no task: the sweeper finds them within
QUEUED_RECHECK_SECONDS (`lost_tasks`) and publishes them then. On a normal exit the publisher
publishes what it holds first.

Only plain submissions take this path (sent now, no attachments, no `Idempotency-Key`);
`submission.submit_email` sends the others through the ORM as before.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from flask import Flask, current_app
from sqlalchemy import insert

from dashboard.extensions import db
from dashboard.models import AuditEvent, Campaign, Message, MessageStatus
from dashboard.sending.publishing import Batch, batch_size_for, publish_batches

log = logging.getLogger(__name__)

# Built once: building a statement and its cache key costs more than running it on SQLite.
_INSERT_CAMPAIGNS = insert(Campaign).returning(Campaign.id, sort_by_parameter_order=True)
_INSERT_MESSAGES = insert(Message).returning(Message.id, sort_by_parameter_order=True)
_INSERT_EVENTS = insert(AuditEvent)

#: A publisher with nothing to do for this long ends (the next submission starts another).
PUBLISHER_IDLE_SECONDS = 30.0
#: On exit, how long the process waits for its publisher to hand over what it holds.
EXIT_PUBLISH_SECONDS = 10.0


@dataclass
class Submission:
    """One request's rows, waiting to be written: its campaign's and its messages' values, and
    its audit event's (the target is filled in once the campaign's id is known)."""

    campaign: dict[str, Any]
    messages: list[dict[str, Any]]
    event: dict[str, Any]
    campaign_id: int | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Slot:
    """Where a write's rows of one queue go: `count` rows into `batch`."""

    queue: str
    batch: Batch
    count: int


@dataclass(eq=False)
class _Intake:
    """One app's group commit in this process. Everything is read and changed under
    `condition`; `writing` is true while a write is under way (one at a time), during which the
    open batches it stamps are not handed to the publisher."""

    app: Flask
    condition: threading.Condition = field(default_factory=threading.Condition)
    pending: list[Submission] = field(default_factory=list)
    writing: bool = False
    open: dict[str, Batch] = field(default_factory=dict)  # queue -> batch being filled
    ready: list[tuple[str, Batch]] = field(default_factory=list)  # committed, to publish
    publisher: threading.Thread | None = None
    publisher_waiting: bool = False
    stopping: bool = False


# Every app's intake in this process, for the exit (weakly: a test's app may go away).
_intakes: weakref.WeakSet[_Intake] = weakref.WeakSet()


def _intake_of(app: Flask) -> _Intake:
    intake = app.extensions.get("dispatcher_group_commit")
    if intake is None:
        intake = app.extensions.setdefault("dispatcher_group_commit", _Intake(app))
        _intakes.add(intake)
    return intake


def submit_together(submission: Submission) -> int:
    """Store `submission` (in a transaction it may share with others of this process) and have
    its messages published; return its campaign's id once it is committed, or raise what the
    database raised."""
    intake = _intake_of(current_app._get_current_object())
    with intake.condition:
        intake.pending.append(submission)
        while not submission.done:
            if intake.writing:
                intake.condition.wait()
                continue
            intake.writing = True
            group, intake.pending = intake.pending, []
            slots = _plan(intake, group)
            intake.condition.release()
            message_ids: list[int] = []
            try:
                message_ids = _write(group, slots)
            finally:
                intake.condition.acquire()
                intake.writing = False
                _file(intake, slots, message_ids)
                intake.condition.notify_all()
    if submission.error is not None:
        raise submission.error
    assert submission.campaign_id is not None
    return submission.campaign_id


def _plan(intake: _Intake, group: Sequence[Submission]) -> list[_Slot]:
    """Stamp each row of `group` with the task id of the batch it will go in (the queue's open
    batch while it has room, then new ones); under the lock."""
    slots: list[_Slot] = []
    for queue in dict.fromkeys(s.campaign["queue"] for s in group):
        rows = [m for s in group if s.campaign["queue"] == queue for m in s.messages]
        size = batch_size_for(queue)
        batch = intake.open.get(queue) or Batch(str(uuid4()), [])
        taken = 0
        while taken < len(rows):
            room = size - len(batch.message_ids) - sum(s.count for s in slots if s.batch is batch)
            if room <= 0:
                batch = Batch(str(uuid4()), [])
                continue
            for row in rows[taken : taken + room]:
                row["task_id"] = batch.task_id
            slots.append(_Slot(queue, batch, min(room, len(rows) - taken)))
            taken += room
    return slots


def _file(intake: _Intake, slots: Sequence[_Slot], message_ids: Sequence[int]) -> None:
    """Put a write's committed ids (none if it failed) into their batches: full ones are ready
    to publish, the last of each queue stays open; all are ready if the publisher is idle.
    Under the lock."""
    if message_ids:
        start = 0
        for slot in slots:
            slot.batch.message_ids.extend(message_ids[start : start + slot.count])
            start += slot.count
            if len(slot.batch.message_ids) >= batch_size_for(slot.queue):
                if intake.open.get(slot.queue) is slot.batch:
                    del intake.open[slot.queue]
                intake.ready.append((slot.queue, slot.batch))
            else:
                intake.open[slot.queue] = slot.batch
    if intake.publisher_waiting:
        _close_open_batches(intake)
    if (intake.ready or intake.open) and intake.publisher is None:
        _start_publisher(intake)


def _close_open_batches(intake: _Intake) -> None:
    intake.ready.extend(intake.open.items())
    intake.open.clear()


def _start_publisher(intake: _Intake) -> None:
    intake.publisher = threading.Thread(
        target=_publisher, args=(intake,), name="intake-publisher", daemon=True
    )
    intake.publisher.start()


def _publisher(intake: _Intake) -> None:
    """Publish committed batches as they come, each batch in one task; end when idle."""
    with intake.app.app_context():
        while True:
            with intake.condition:
                while True:
                    if not intake.writing and intake.open:
                        _close_open_batches(intake)
                    if intake.ready or intake.stopping:
                        break
                    intake.publisher_waiting = True
                    woken = intake.condition.wait(PUBLISHER_IDLE_SECONDS)
                    intake.publisher_waiting = False
                    if not woken and not intake.ready and not intake.open:
                        intake.publisher = None
                        return
                work, intake.ready = intake.ready, []
                if not work and intake.stopping:
                    intake.publisher = None
                    intake.condition.notify_all()
                    return
            try:
                for queue, batch in work:
                    publish_batches([batch], queue=queue, sent_event=False)  # never raises
            finally:
                db.session.remove()


def wait_published(app: Flask, timeout: float = EXIT_PUBLISH_SECONDS) -> bool:
    """Wait (at most `timeout` s) until every batch this process committed for `app` is on the
    broker; whether it is. For a caller that must see the tasks at once (a script, a test)."""
    intake = app.extensions.get("dispatcher_group_commit")
    if intake is None:
        return True
    deadline = time.monotonic() + timeout
    with intake.condition:
        while (
            intake.pending
            or intake.writing
            or intake.open
            or intake.ready
            or (intake.publisher is not None and not intake.publisher_waiting)
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            intake.condition.wait(min(left, 0.05))  # the publisher does not notify when idle
    return True


@atexit.register
def _publish_before_exit() -> None:
    """At the process's exit: let each publisher hand over what it holds (a bounded wait)."""
    for intake in list(_intakes):
        _stop(intake)


def _stop(intake: _Intake) -> None:
    with intake.condition:
        intake.stopping = True
        if intake.publisher is None and (intake.ready or intake.open):
            _start_publisher(intake)
        intake.condition.notify_all()
        intake.condition.wait_for(lambda: intake.publisher is None, EXIT_PUBLISH_SECONDS)


def _write(submissions: Sequence[Submission], slots: Sequence[_Slot]) -> list[int]:
    """Insert every submission's rows in one transaction; mark each done (with its campaign id,
    or the error for all). Returns the message ids, in the order of `slots`' rows."""
    try:
        messages: list[dict[str, Any]] = []
        # On the writing request's own connection (no second checkout, nor its pre-ping):
        # the commit is the session's, as `submit_email`'s ORM path commits it too.
        connection = db.session.connection()
        campaign_ids = connection.scalars(
            _INSERT_CAMPAIGNS, [s.campaign for s in submissions]
        ).all()
        for submission, campaign_id in zip(submissions, campaign_ids, strict=True):
            submission.campaign_id = campaign_id
            submission.event["target"] = f"campaign {campaign_id}"
            for row in submission.messages:
                row["campaign_id"] = campaign_id
                messages.append(row)
        inserted = connection.scalars(_INSERT_MESSAGES, messages).all()
        connection.execute(_INSERT_EVENTS, [s.event for s in submissions])
        db.session.commit()
        by_row = {id(row): message_id for row, message_id in zip(messages, inserted, strict=True)}
        queues = dict.fromkeys(slot.queue for slot in slots)
        message_ids = [
            by_row[id(row)]
            for queue in queues
            for s in submissions
            if s.campaign["queue"] == queue
            for row in s.messages
        ]
    except BaseException as error:
        db.session.rollback()
        for submission in submissions:
            submission.error, submission.campaign_id = error, None
        message_ids = []
    for submission in submissions:
        submission.done = True
    return message_ids


def message_values(*, to_address: str, to_name: str, message_id_header: str) -> dict[str, Any]:
    """A queued message's column values, as the ORM would insert them."""
    return {
        "to_address": to_address,
        "to_name": to_name,
        "status": MessageStatus.QUEUED,
        "message_id_header": message_id_header,
    }
