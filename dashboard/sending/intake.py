"""Group commit: the submissions that one process receives at the same time are written in one
transaction, each request answers once the commit that holds its rows is done (nothing is
acknowledged that is not stored), and a publisher thread of the process hands the committed ids
to the broker behind the answers.

The first request to arrive writes what is waiting; those that arrive while it does wait, and
the first of them is handed the turn to write them all when it is done (each waiting request
is woken once: when its rows are written, or when its turn comes). Under no load a group is one
submission; under load it holds what arrived during one write. Rows go in through the driver's
own cursor, with their batch's task id in hand before the insert, on a connection the writes of
this process keep for themselves (outside the pool, closed when they stop): on PostgreSQL a group
is one statement in one round trip (`intake_group`), and a write whose answer is lost is settled
by looking its rows up (`lost_answers`); on SQLite each row has its INSERT (`intake_rows`), and
the writers of the machine's web processes take turns through a lock file (`sqlite_turns`)
rather than meeting in SQLite's busy handler.

Batches outlive groups: the groups committed within PUBLISH_INTERVAL_SECONDS of the last publish
fill the same open batch (up to the queue's batch size, its task id stamped on each of their
rows), so under load one publish carries what many writes stored, and an email after a quiet
spell is published at once. A process that dies between a commit and the publish leaves its
rows `queued` with no task: the sweeper finds them within QUEUED_RECHECK_SECONDS (`lost_tasks`)
and publishes them then. On a normal exit the publisher publishes what it holds first.

Only plain submissions take this path (sent now, no attachments, no `Idempotency-Key`);
`submission.submit_email` sends the others through the ORM as before.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import uuid4

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection

from dashboard.database import connection_outside_pool
from dashboard.extensions import db
from dashboard.models import AuditEvent, Campaign, Message, MessageStatus
from dashboard.sending.intake_group import (
    CAMPAIGN_COLUMN,
    TARGET_COLUMN,
    GroupInsert,
    compile_group_insert,
)
from dashboard.sending.intake_rows import CompiledInsert, compile_insert, insert_rows
from dashboard.sending.lost_answers import rows_committed
from dashboard.sending.publishing import Batch, batch_size_for, publish_batches
from dashboard.sending.sqlite_turns import write_turn

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _statements(
    dialect: Dialect, campaign: tuple[str, ...], message: tuple[str, ...], event: tuple[str, ...]
) -> tuple[tuple[CompiledInsert, CompiledInsert, CompiledInsert], GroupInsert | None]:
    """Each table's INSERT of these columns for `dialect` and, on PostgreSQL, the one
    statement that writes a group of them (`intake_group`)."""
    inserts = (
        compile_insert(Campaign.__table__, campaign, dialect),
        compile_insert(Message.__table__, message, dialect),
        compile_insert(AuditEvent.__table__, event, dialect),
    )
    if dialect.name != "postgresql":
        return inserts, None
    tables = (Campaign.__table__, Message.__table__, AuditEvent.__table__)
    return inserts, compile_group_insert(tables, inserts, dialect)


#: A publisher with nothing to do for this long ends (the next submission starts another).
PUBLISHER_IDLE_SECONDS = 30.0
#: At most one publish of a partly filled batch per this many seconds: under load a task then
#: carries what this process committed meanwhile (a publish costs the web tier more than the
#: write of several emails), and an email that arrives after a quiet spell goes at once. Under a
#: steady stream an email waits at most this long for its publish; 0.05 against 0.02 took the
#: web tier's CPU per email down 3 to 5% (docs/benchmarks.md, "API intake").
PUBLISH_INTERVAL_SECONDS = 0.05
#: On exit, how long the process waits for its publisher to hand over what it holds.
EXIT_PUBLISH_SECONDS = 10.0


def _taken_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


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
    # Released once, to wake its request: its rows are written (done), or it is its turn to
    # write what waits (its own rows among them).
    turn: threading.Lock = field(default_factory=_taken_lock)


@dataclass
class _Slot:
    """Where a write's rows of one queue go: `count` rows into `batch`."""

    queue: str
    batch: Batch
    count: int


@dataclass(eq=False)
class _Intake:
    """One app's group commit in this process. Everything is read and changed under `lock`.
    `writing` is true from the moment a request starts writing until no request waits for a
    write any more (the turn passes from writer to writer); the open batches a write in flight
    stamps (`stamping`) are not handed to the publisher until that write is filed."""

    app: Flask
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[Submission] = field(default_factory=list)
    writing: bool = False
    stamping: bool = False
    open: dict[str, Batch] = field(default_factory=dict)  # queue -> batch being filled
    ready: list[tuple[str, Batch]] = field(default_factory=list)  # committed, to publish
    publisher: threading.Thread | None = None
    publisher_waiting: bool = False
    publisher_wakes_at: float = float("inf")  # when the waiting publisher looks again by itself
    published_at: float = float("-inf")  # time.monotonic() the open batches were last handed over
    stopping: bool = False
    # The writers' own connection, outside the pool (see `_writer_connection`); None between
    # writing spells that the publisher saw end.
    connection: PoolProxiedConnection | None = None

    def __post_init__(self) -> None:
        # The publisher waits on it (and so do wait_published and the exit); requests never do.
        self.publishing = threading.Condition(self.lock)

    def engine_disposed(self, _engine: Engine) -> None:
        """The app's engine closed its connections: the writers' goes too (a write in flight
        keeps it, and the publisher closes it once it idles)."""
        with self.lock:
            _close_writer_connection(self)


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
    with intake.lock:
        intake.pending.append(submission)
        my_turn = not intake.writing
        intake.writing = True
    if not my_turn:
        submission.turn.acquire()  # until written by another request, or handed the turn
    if not submission.done:
        _write_pending(intake)
    if submission.error is not None:
        raise submission.error
    assert submission.campaign_id is not None
    return submission.campaign_id


def _write_pending(intake: _Intake) -> None:
    """Write what waits (in one transaction), wake the requests it held, and pass the turn to
    the first that arrived meanwhile (or end the writing spell)."""
    group: list[Submission] = []
    slots: list[_Slot] = []
    message_ids: list[int] = []
    try:
        with intake.lock:
            group, intake.pending = intake.pending, []
            slots = _plan(intake, group)
            intake.stamping = True
        message_ids = _write(intake, group, slots)
    except BaseException as error:  # before the write could record it
        for submission in group:
            submission.error = submission.error or error
        raise
    finally:
        following: Submission | None = None
        with intake.lock:
            intake.stamping = False
            _file(intake, slots, message_ids)
            if intake.pending:
                following = intake.pending[0]
            else:
                intake.writing = False
            if _publisher_to_wake(intake):
                intake.publishing.notify_all()
        for submission in group:
            submission.done = True
            submission.turn.release()  # (the writer's own too: nobody waits on it)
        if following is not None:
            following.turn.release()


def _plan(intake: _Intake, group: Sequence[Submission]) -> list[_Slot]:
    """Stamp each row of `group` with the task id of the batch it will go in (the queue's open
    batch while it has room and is not due to be published, then new ones); under the lock."""
    if intake.open and _due_at(intake) <= time.monotonic():
        _close_open_batches(intake)  # handed to the publisher, which this write's end wakes
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
    to publish, the last of each queue stays open. Under the lock."""
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
    if (intake.ready or intake.open) and intake.publisher is None:
        _start_publisher(intake)


def _publisher_to_wake(intake: _Intake) -> bool:
    """Whether the waiting publisher must be woken to hand over what was filed: a batch is
    ready, or one is open and the publisher would not look again by itself when it falls due.
    Under load it is mostly asleep until the interval ends: waking it after every write cost
    the writing request its time slice (a wake-up is a thread switch holding the GIL).
    Under the lock."""
    if not intake.publisher_waiting:
        return False  # it is publishing, and looks again before it waits
    if intake.ready:
        return True
    return bool(intake.open) and (intake.publisher_wakes_at > _due_at(intake))


def _due_at(intake: _Intake) -> float:
    """When (`time.monotonic()`) a partly filled batch may be published."""
    return intake.published_at + PUBLISH_INTERVAL_SECONDS


def _close_open_batches(intake: _Intake) -> None:
    """Hand the open batches to the publisher (the interval counts from here)."""
    intake.ready.extend(intake.open.items())
    intake.open.clear()
    intake.published_at = time.monotonic()


def _start_publisher(intake: _Intake) -> None:
    intake.publisher = threading.Thread(
        target=_publisher, args=(intake,), name="intake-publisher", daemon=True
    )
    intake.publisher.start()


def _publisher(intake: _Intake) -> None:
    """Publish committed batches as they come, each batch in one task (a partly filled one at
    most once per PUBLISH_INTERVAL_SECONDS); end when idle."""
    with intake.app.app_context():
        while True:
            with intake.lock:
                while True:
                    now = time.monotonic()
                    wakes_at = now + PUBLISHER_IDLE_SECONDS  # or when a write wakes it
                    if intake.open and not intake.stamping:
                        due_at = _due_at(intake)
                        if due_at <= now or intake.stopping:
                            _close_open_batches(intake)
                        else:
                            # Exactly the time `_publisher_to_wake` compares with: a wake time
                            # read off the clock again came out later, and every write woke it.
                            wakes_at = due_at  # unless a write hands them over first
                    if intake.ready or intake.stopping:
                        break
                    intake.publisher_waiting = True
                    intake.publisher_wakes_at = wakes_at
                    woken = intake.publishing.wait(wakes_at - now)
                    intake.publisher_waiting = False
                    if not (woken or intake.ready or intake.open):
                        intake.publisher = None
                        _close_writer_connection(intake)
                        return
                work, intake.ready = intake.ready, []
                if not work and intake.stopping:
                    intake.publisher = None
                    _close_writer_connection(intake)
                    intake.publishing.notify_all()
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
    with intake.lock:
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
            intake.publishing.wait(min(left, 0.01))  # nobody notifies this wait: it looks again
    return True


@atexit.register
def _publish_before_exit() -> None:
    """At the process's exit: let each publisher hand over what it holds (a bounded wait)."""
    for intake in list(_intakes):
        _stop(intake)


def _stop(intake: _Intake) -> None:
    with intake.lock:
        intake.stopping = True
        if intake.publisher is None and (intake.ready or intake.open):
            _start_publisher(intake)
        intake.publishing.notify_all()
        intake.publishing.wait_for(lambda: intake.publisher is None, EXIT_PUBLISH_SECONDS)


def _write(intake: _Intake, submissions: Sequence[Submission], slots: Sequence[_Slot]) -> list[int]:
    """Insert every submission's rows in one transaction; mark each done (with its campaign id,
    or the error for all). Returns the message ids, in the order of `slots`' rows."""
    try:
        write = _prepare(submissions)  # before the turn, which lasts only the database's work
        with write_turn(db.engine):
            try:
                return _insert(intake, _writer_connection(intake), write, submissions, slots)
            except _Disconnected as lost:  # nothing was written: once more, on a new connection
                connection = _writer_connection(intake)
                return _insert(intake, connection, write, submissions, slots, lost.error)
    except BaseException as error:
        for submission in submissions:
            submission.error, submission.campaign_id = error, None
        return []
    finally:
        for submission in submissions:
            submission.done = True


class _Disconnected(Exception):
    """The kept connection was found closed by the write's first statement (the database
    restarted, or closed it while it idled): nothing of the write reached the database."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _writer_connection(intake: _Intake) -> PoolProxiedConnection:
    """The connection the writes of this process go through: one of its own, outside the pool
    (the requests waiting for a write may hold the pool's connections), kept while writes keep
    coming (the publisher closes it once it idles). The session's connection cost a checkout
    with its ping (a round trip on PostgreSQL), a session transaction and a second commit per
    write. Only the writing request touches it (one at a time); the publisher only under the
    lock, between writing spells."""
    if intake.connection is None:
        engine = db.engine
        # Not from the engine's pool: its connections may all be lent to the requests waiting
        # for this write.
        intake.connection = connection_outside_pool(engine)
        if engine.dialect.name == "postgresql":
            # The group is one statement, its own transaction: no BEGIN or COMMIT to send.
            intake.connection.dbapi_connection.autocommit = True
        if not event.contains(engine, "engine_disposed", intake.engine_disposed):
            event.listen(engine, "engine_disposed", intake.engine_disposed)
    return intake.connection


def _close_writer_connection(intake: _Intake) -> None:
    """Close the writers' connection unless a write is in flight. Under the lock."""
    if not intake.writing:
        _discard_connection(intake)


def _discard_connection(intake: _Intake) -> None:
    """Forget the writers' connection and close it as it is (its transaction with it, and no
    reset that could fail again); the next write opens a new one."""
    connection, intake.connection = intake.connection, None
    if connection is not None:
        with contextlib.suppress(Exception):  # a connection already broken: nothing to close
            connection.dbapi_connection.close()


@dataclass(frozen=True)
class _GroupWrite:
    """PostgreSQL: the group's one statement (`intake_group`) and its parameters."""

    statement: GroupInsert
    parameters: dict[str, str]


@dataclass(frozen=True)
class _RowWrites:
    """SQLite: the three INSERTs and each row's parameters, as the driver takes them; a
    message's campaign and an event's target are filled in as the campaigns' ids come."""

    statements: tuple[CompiledInsert, CompiledInsert, CompiledInsert]
    campaigns: list[Any]  # a row each
    messages: list[list[Any]]  # per campaign, its messages'
    events: list[Any]


def _prepare(submissions: Sequence[Submission]) -> _GroupWrite | _RowWrites:
    first = submissions[0]
    statements, group = _statements(
        db.engine.dialect,
        tuple(first.campaign),
        (*first.messages[0], CAMPAIGN_COLUMN),
        (*first.event, TARGET_COLUMN),
    )
    if group is not None:
        parameters = group.parameters(
            [s.campaign for s in submissions],
            [s.messages for s in submissions],
            [s.event for s in submissions],
        )
        return _GroupWrite(group, parameters)
    campaign, message, event = statements
    return _RowWrites(
        statements,
        campaigns=[campaign.parameters(s.campaign) for s in submissions],
        messages=[
            [message.parameters({**row, CAMPAIGN_COLUMN: None}) for row in s.messages]
            for s in submissions
        ],
        events=[event.parameters(s.event) for s in submissions],
    )


def _insert(
    intake: _Intake,
    connection: PoolProxiedConnection,
    write: _GroupWrite | _RowWrites,
    submissions: Sequence[Submission],
    slots: Sequence[_Slot],
    retried: BaseException | None = None,
) -> list[int]:
    """Write the group's rows; returns the message ids in the order of `slots`' rows, each
    submission's campaign id set."""
    try:
        if isinstance(write, _GroupWrite):
            ids = _insert_group(intake, connection, write, submissions, retried)
        else:
            ids = _insert_rows(connection, write, submissions, retried)
    except BaseException:
        _discard_connection(intake)  # whatever failed, the connection goes
        raise
    by_row = {
        id(row): row_id
        for s in submissions
        for row, row_id in zip(s.messages, ids[id(s)], strict=True)
    }
    queues = dict.fromkeys(slot.queue for slot in slots)
    return [
        by_row[id(row)]
        for queue in queues
        for s in submissions
        if s.campaign["queue"] == queue
        for row in s.messages
    ]


def _insert_rows(
    connection: PoolProxiedConnection,
    write: _RowWrites,
    submissions: Sequence[Submission],
    retried: BaseException | None,
) -> dict[int, list[int]]:
    """SQLite: each row by its own INSERT on the driver's cursor (in the process: nothing to
    save by grouping them), one commit. Per submission (by `id()`), its message ids. A handle
    found closed by the first statement wrote nothing: the write is made once more."""
    dialect = db.engine.dialect
    insert_campaigns, insert_messages, insert_events = write.statements
    cursor = None
    try:
        cursor = connection.cursor()
        campaign_ids = insert_rows(cursor, insert_campaigns.sql, write.campaigns)
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, connection.dbapi_connection, cursor)
        if lost and retried is None:
            raise _Disconnected(error) from error
        raise
    ids: dict[int, list[int]] = {}
    events = []
    for submission, campaign_id, messages, audit in zip(
        submissions, campaign_ids, write.messages, write.events, strict=True
    ):
        submission.campaign_id = campaign_id
        filled = [insert_messages.with_value(row, CAMPAIGN_COLUMN, campaign_id) for row in messages]
        ids[id(submission)] = insert_rows(cursor, insert_messages.sql, filled)
        events.append(insert_events.with_value(audit, TARGET_COLUMN, f"campaign {campaign_id}"))
    insert_rows(cursor, insert_events.sql, events)
    connection.commit()
    return ids


def _insert_group(
    intake: _Intake,
    connection: PoolProxiedConnection,
    write: _GroupWrite,
    submissions: Sequence[Submission],
    retried: BaseException | None,
) -> dict[int, list[int]]:
    """PostgreSQL: the group in one statement, its own transaction on the writers' autocommit
    connection, in one round trip (`intake_group`). A connection lost on the way leaves the
    write's fate unknown: the rows are looked up by their Message-IDs on a new connection
    (`lost_answers`); stored, the write succeeded; not stored, it is made once more on a new
    connection (once)."""
    dialect = db.engine.dialect
    dbapi_connection = connection.dbapi_connection
    backend_pid, cursor = None, None
    try:
        backend_pid = dbapi_connection.info.backend_pid  # raises on a connection closed already
        cursor = connection.cursor()
        # Autocommit: committed by the time it answers.
        cursor.execute(write.statement.sql, write.parameters)
        found = {header: (row_id, campaign_id) for header, row_id, campaign_id in cursor}
    except dialect.loaded_dbapi.Error as error:
        if not dialect.is_disconnect(error, dbapi_connection, cursor):
            raise
        # The commit may have landed: answer as the database says, not as the socket did. A
        # connection found closed before anything was sent stored nothing.
        expected = [row["message_id_header"] for s in submissions for row in s.messages]
        stored = {} if backend_pid is None else rows_committed(db.engine, backend_pid, expected)
        if stored == {} and retried is None:
            log.warning("a write's connection was lost before it stored anything: made again")
            raise _Disconnected(error) from error
        if not stored:
            raise
        log.warning("a write's answer was lost but its %d rows are stored: accepted", len(stored))
        _discard_connection(intake)
        found = stored
    ids: dict[int, list[int]] = {}
    for submission in submissions:
        rows = [found[row["message_id_header"]] for row in submission.messages]
        submission.campaign_id = rows[0][1]
        ids[id(submission)] = [row_id for row_id, _ in rows]
    return ids


def message_values(*, to_address: str, to_name: str, message_id_header: str) -> dict[str, Any]:
    """A queued message's column values, as the ORM would insert them."""
    return {
        "to_address": to_address,
        "to_name": to_name,
        "status": MessageStatus.QUEUED,
        "message_id_header": message_id_header,
    }
