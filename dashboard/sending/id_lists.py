"""A list of message ids bound as one parameter: a JSON array on SQLite, an array on PostgreSQL.

`IN (...)` gives the driver and SQLAlchemy one parameter per id to handle (a batch claims 500,
writes 250 outcomes a flush); one parameter is the same work for any number of ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam, cast, func, select

from dashboard.extensions import db


def dialect_name() -> str:
    """The database the session talks to: `sqlite` or `postgresql`."""
    return db.session.get_bind().dialect.name


def among_ids(column: ColumnElement[int], dialect: str, name: str = "ids") -> ColumnElement[bool]:
    """`column` is one of the ids bound as `name` (see `ids_parameter`)."""
    if dialect == "sqlite":
        listed = func.json_each(bindparam(name)).table_valued("value")
        return column.in_(select(listed.c.value))
    return column == any_(cast(bindparam(name), ARRAY(Integer)))


def ids_parameter(message_ids: Iterable[int], dialect: str) -> str | list[int]:
    """The value `among_ids` binds."""
    ids = [int(message_id) for message_id in message_ids]
    return json.dumps(ids) if dialect == "sqlite" else ids
