"""Turns at writing a SQLite database for the busy writers of every process on this machine,
through a lock file beside the database: the API intake's writer in each web process
(`sending.intake`), the workers' claims and outcome writes, and a campaign's confirm.

SQLite lets one writer in at a time, and a writer that finds the database locked sleeps in its
busy handler (1, 2, 5, 10, 15 ms ... between looks) however soon the lock frees; with two web
processes storing emails, their writes met every few milliseconds and each meeting cost a
request milliseconds of sleep. During a campaign's confirm, the workers' writes met its batches
so, and sent at half their pace until it was done. A writer that waits on this lock is woken by
the kernel the moment the other one lets go.

Only these writers take it; the others (the pages, the sweeper, lease renewals) still meet
SQLite's own lock, which the holder of this one may wait for as before (the database's busy
timeout bounds it). A writer takes its turn before its transaction's first write, never while
it holds SQLite's lock outside one. On PostgreSQL, or where the lock file cannot be opened,
there are no turns to take.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator

from sqlalchemy.engine import Engine

from dashboard.database import sqlite_file

log = logging.getLogger(__name__)

# (process id, lock file) -> its descriptor and its threads' lock, or None (no turns)
_opened: dict[tuple[int, str], tuple[int, threading.Lock] | None] = {}
_opening = threading.Lock()


def lock_file_of(engine: Engine) -> str | None:
    """The lock file of the engine's database, or None when it has none (not SQLite, or a
    database without a file of its own: in memory, or a URI filename)."""
    database = sqlite_file(engine.url)
    return None if database is None else f"{database}-writers.lock"


@contextlib.contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """Hold this machine's turn at writing the engine's database while the block runs (at once
    where there are no turns to take). The threads of a process take turns among themselves
    first: a lock file's lock belongs to the process's open file, not to a thread."""
    turn = _turn(engine)
    if turn is None:
        yield
        return
    descriptor, threads_turn = turn
    with threads_turn:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


def _turn(engine: Engine) -> tuple[int, threading.Lock] | None:
    """This process's open lock file for the engine's database, and the lock its threads take
    turns by; None without turns."""
    path = lock_file_of(engine)
    if path is None:
        return None
    # A lock is held by the open file, which a forked child would share with its parent (and
    # a thread lock held at the fork stays held in the child): each process has its own.
    key = (os.getpid(), path)
    with _opening:
        turn = _opened.get(key, False)
        if turn is False:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:  # a read-only folder: SQLite's own lock still holds
                log.warning("SQLite writers write without turns (%s): %s", path, error)
                turn = None
            else:
                turn = (descriptor, threading.Lock())
            _opened[key] = turn
    return turn
