"""The database: connection tuning (SQLite in WAL mode, so the web, the workers and the catcher
share it) and the one transaction helper every writer uses."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.pool import PoolProxiedConnection

from dashboard.extensions import db


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


log = logging.getLogger(__name__)
M = TypeVar("M")
OWNER_ONLY = 0o600


def sqlite_file(database_url: str | URL) -> str | None:
    """The file of a SQLite database URL, as SQLite opens it; None for another database, or a
    SQLite one without a file of its own to name (in memory, or a URI filename, which SQLite
    opens itself)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):
        return None
    return url.database


def owner_only_sqlite_files(database_url: str) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does (it would use the umask,
    often 0644, and give its -wal and -shm files the same mode), and tighten the mode of files
    an earlier version created readable by everyone: the database holds every message, the
    password hashes and the API token digests."""
    file = sqlite_file(database_url)
    if file is None:
        return
    path = Path(file)
    try:
        if path.parent.is_dir():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, OWNER_ONLY))
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if name.exists() and name.stat().st_mode & 0o077:
                name.chmod(OWNER_ONLY)
    except OSError as error:  # another user's file, a read-only mount: say so, start anyway
        log.warning("could not make the database file owner-only: %s", error)


def init_database(app: Flask) -> None:
    owner_only_sqlite_files(app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(
            engine, "connect", _sqlite_pragmas
        ):
            event.listen(engine, "connect", _sqlite_pragmas)


#: The database is away: refusing connections, restarting, or (SQLite) locked past the busy
#: timeout. Worth waiting for and trying again, unlike an error in what was written.
DATABASE_AWAY = (OperationalError, InterfaceError)


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block wrote to `db.session`, or roll all of it back if the block raises
    (anything, even a worker's shutdown), so nothing half-written stays behind."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def detached_row(model: type[M], values: Mapping[str, Any]) -> M:
    """The `model` row whose columns are `values` (its `id` among them), as a detached object
    built without a query, as if a session had loaded it and then closed: its columns read
    as given; a column or relationship not in `values` cannot load (it raises).

    For rows the caller has just written or read itself and only reads back, where building the
    object through its constructor (an attribute event per column) and attaching it to the
    session would cost more than the work it stands for."""
    instance = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def connection_outside_pool(engine: Engine) -> PoolProxiedConnection:
    """A connection of `engine`'s kind (its pragmas, its ping) that no pool lends or takes back,
    even for a moment: for work that must not wait on the engine's pool, whose connections may
    all be lent to requests waiting for that work. Opened by a pool of the same kind and
    detached from it; the caller closes it."""
    connection = engine.pool.recreate().connect()
    connection.detach()
    return connection
