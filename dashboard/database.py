"""The database: connection tuning (SQLite in WAL mode, so the web, the workers and the catcher
share it) and the one transaction helper every writer uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dashboard.extensions import db


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_database(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(
            engine, "connect", _sqlite_pragmas
        ):
            event.listen(engine, "connect", _sqlite_pragmas)


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
