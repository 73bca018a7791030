"""The statements that write a flush of outcomes (one INSERT of its attempts, and one UPDATE of
its message rows per final status, with each row's rendered subject), with the rows' own values
passed as one parameter each (a JSON array on SQLite, arrays on PostgreSQL) and the values they
share (the time, the worker, the task, the status) bound once.

Executemany ran one statement per row and sent every row's values through SQLAlchemy's type
processing, the shared ones too: a fifth of a bulk worker's CPU went to writing outcomes. The
SQL text is the same for every flush, so it is compiled (and prepared) once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime, TextClause, bindparam, text

from dashboard.extensions import db
from dashboard.models import MessageStatus
from dashboard.sending.id_lists import dialect_name

_ATTEMPT_COLUMNS = "message_id, outcome, smtp_code, smtp_reply, duration_ms, worker, task_id"
_SHARED = ":worker, :task_id, :now"


def _item(index: int) -> str:
    return f"json_extract(value, '$[{index}]')"


_SQLITE_ATTEMPTS = (
    f"INSERT INTO delivery_attempt ({_ATTEMPT_COLUMNS}, finished_at) "
    f"SELECT {', '.join(_item(i) for i in range(5))}, {_SHARED} "
    "FROM json_each(:rows) ORDER BY key"
)
_POSTGRESQL_ATTEMPTS = (
    f"INSERT INTO delivery_attempt ({_ATTEMPT_COLUMNS}, finished_at) "
    f"SELECT v.message_id, v.outcome, v.code, v.reply, v.duration, {_SHARED} "
    "FROM unnest(CAST(:message_ids AS INTEGER[]), CAST(:outcomes AS VARCHAR[]), "
    "CAST(:codes AS INTEGER[]), CAST(:replies AS TEXT[]), CAST(:durations AS INTEGER[])) "
    "WITH ORDINALITY AS v (message_id, outcome, code, reply, duration, n) ORDER BY v.n"
)


def _sqlite_rows(status: str) -> str:
    columns = [f"{_item(0)} AS id", f"{_item(1)} AS code", f"{_item(2)} AS reply"]
    columns.append(f"{_item(3)} AS subject")
    if status == MessageStatus.RETRYING:
        columns.append(f"{_item(4)} AS next_at")
    return f"(SELECT {', '.join(columns)} FROM json_each(:rows))"


def _postgresql_rows(status: str) -> str:
    arrays = (
        "CAST(:ids AS INTEGER[]), CAST(:codes AS INTEGER[]), CAST(:replies AS TEXT[]), "
        "CAST(:subjects AS TEXT[])"
    )
    if status == MessageStatus.RETRYING:
        arrays += ", CAST(:next_ats AS TIMESTAMP[])"
        return f"unnest({arrays}) AS v (id, code, reply, subject, next_at)"
    return f"unnest({arrays}) AS v (id, code, reply, subject)"


@cache
def _statements(dialect: str) -> tuple[TextClause, dict[str, TextClause]]:
    """The INSERT of attempts and, per status, the UPDATE of messages, for one dialect."""
    sqlite = dialect == "sqlite"
    now = bindparam("now", type_=DateTime())
    attempts = text(_SQLITE_ATTEMPTS if sqlite else _POSTGRESQL_ATTEMPTS).bindparams(now)
    updates = {}
    for status in (MessageStatus.SENT, MessageStatus.RETRYING, MessageStatus.FAILED):
        sets = ["status = :status", "last_code = v.code", "last_reply = v.reply"]
        sets += ["subject = coalesce(v.subject, message.subject)", "updated_at = :now"]
        if status == MessageStatus.SENT:
            sets.append("sent_at = :now")
        if status == MessageStatus.RETRYING:
            sets.append("next_attempt_at = v.next_at")
        rows = f"{_sqlite_rows(status)} AS v" if sqlite else _postgresql_rows(status)
        statement = f"UPDATE message SET {', '.join(sets)} FROM {rows} WHERE message.id = v.id"
        updates[status.value] = text(statement).bindparams(now)
    return attempts, updates


def _json(rows: Sequence[Sequence[Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def insert_attempts(
    attempts: Sequence[tuple[int, str, int | None, str, int]],
    *,
    worker: str,
    task_id: str | None,
    now: datetime,
) -> None:
    """One `DeliveryAttempt` per `(message id, outcome, SMTP code, reply, duration in ms)`, in
    this order, each finished at `now` by `worker` in task `task_id`."""
    if not attempts:
        return
    dialect = dialect_name()
    params: dict[str, Any] = {"worker": worker, "task_id": task_id, "now": now}
    if dialect == "sqlite":
        params["rows"] = _json(attempts)
    else:
        columns = list(zip(*attempts, strict=True))
        for name, column in zip(
            ("message_ids", "outcomes", "codes", "replies", "durations"), columns, strict=True
        ):
            params[name] = list(column)
    db.session.execute(_statements(dialect)[0], params)


def update_messages(
    status: str,
    rows: Sequence[tuple[int, int | None, str, str | None, datetime | None]],
    now: datetime,
) -> None:
    """Set `status` and each row's `(id, last code, last reply, subject, next attempt)` on the
    message rows, all updated at `now` (and, sent, sent at `now`; the next attempt is only
    written for `retrying`; a subject of None leaves the row's as it is). Ids must be distinct:
    which of two rows for one id won would be left to the database."""
    if not rows:
        return
    dialect = dialect_name()
    retrying = status == MessageStatus.RETRYING
    params: dict[str, Any] = {"status": str(status), "now": now}
    if dialect == "sqlite":
        stamp = _sqlite_datetime()
        params["rows"] = _json(
            [(i, code, reply, subject, stamp(next_at)) if retrying else (i, code, reply, subject)
             for i, code, reply, subject, next_at in rows]
        )  # fmt: skip
    else:
        ids, codes, replies, subjects, next_ats = (list(c) for c in zip(*rows, strict=True))
        params.update(ids=ids, codes=codes, replies=replies, subjects=subjects)
        if retrying:
            params["next_ats"] = next_ats
    db.session.execute(_statements(dialect)[1][str(status)], params)


@cache
def _sqlite_datetime() -> Callable[[datetime | None], str | None]:
    """A datetime as SQLAlchemy stores it in SQLite (the rows' other writers read it so)."""
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    process = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    return process
