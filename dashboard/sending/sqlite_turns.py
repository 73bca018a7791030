"""Turns at writing a SQLite database for the API intake's writers of every process on this
machine (each web process has one, `sending.intake`), through a lock file beside the database.

SQLite lets one writer in at a time, and a writer that finds the database locked sleeps in its
busy handler (1, 2, 5, 10, 15 ms ... between looks) however soon the lock frees; with two web
processes storing emails, their writes met every few milliseconds and each meeting cost a
request milliseconds of sleep. A writer that waits on this lock is woken by the kernel the
moment the other one lets go.

Only these writers take it; the others (the workers, the pages) still meet SQLite's own lock,
which the holder of this one may wait for as before (the database's busy timeout bounds it).
On PostgreSQL, or where the lock file cannot be opened, there are no turns to take.
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

_opened: dict[tuple[int, str], int] = {}  # (process id, lock file) -> its descriptor
_opening = threading.Lock()


def lock_file_of(engine: Engine) -> str | None:
    """The lock file of the engine's database, or None when it has none (not SQLite, or a
    database without a file of its own: in memory, or a URI filename)."""
    database = sqlite_file(engine.url)
    return None if database is None else f"{database}-intake.lock"


@contextlib.contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """Hold this machine's turn at writing the engine's database while the block runs (at once
    where there are no turns to take). One caller per process at a time: the intake's turn
    between its own requests already makes it so."""
    descriptor = _descriptor(engine)
    if descriptor is None:
        yield
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def _descriptor(engine: Engine) -> int | None:
    path = lock_file_of(engine)
    if path is None:
        return None
    # A lock is held by the open file, which a forked child would share with its parent:
    # each process opens its own.
    key = (os.getpid(), path)
    with _opening:
        descriptor = _opened.get(key)
        if descriptor is None:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:  # a read-only folder: SQLite's own lock still holds
                log.warning("the intake writes without turns (%s): %s", path, error)
                descriptor = -1
            _opened[key] = descriptor
    return descriptor if descriptor >= 0 else None
