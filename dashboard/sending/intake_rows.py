"""The intake's INSERTs, run on the driver's own connection: SQLAlchemy compiles each statement
once per database (its SQL, the Python defaults of the columns left out and the type conversions,
all read from the models), and each write then hands its rows straight to the driver. For these
small statements the ORM's and Core's execution machinery cost several times the driver's own
work, on every write.

Ids come back in the order the rows were given: SQLite's from each row's own INSERT (its
cursor knows the rowid; there is no round trip to save), PostgreSQL's from pipelined
`executemany` calls whose results are read back row by row. On PostgreSQL the statements that
follow the first, and the commit, go in one pipeline: a write costs two round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class CompiledInsert:
    """An INSERT of a table's given columns (and those with a Python default), ready for the
    driver of one database."""

    sql: str
    keys: tuple[str, ...]  # the parameters, in the statement's order
    defaults: tuple[tuple[str, Any, bool], ...]  # (key, default, whether it is to be called)
    processors: tuple[_Processor, ...]  # per key: its type's conversion for the driver
    positional: bool
    returns_ids: bool  # RETURNING id (PostgreSQL); SQLite's cursor tells each row's id

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = [row[key] if key in row else _default(self.defaults, key) for key in self.keys]
        converted = [
            value if process is None else process(value)
            for value, process in zip(values, self.processors, strict=True)
        ]
        return tuple(converted) if self.positional else dict(zip(self.keys, converted, strict=True))


def _default(defaults: tuple[tuple[str, Any, bool], ...], key: str) -> Any:
    for name, default, called in defaults:
        if name == key:
            return default(None) if called else default
    raise KeyError(key)


def compile_insert(table: Table, columns: Sequence[str], dialect: Dialect) -> CompiledInsert:
    """`INSERT INTO table (columns, and the columns with a Python default)` for `dialect`,
    with `RETURNING id` where the driver needs it to tell the new rows' ids."""
    statement = insert(table)
    returns_ids = dialect.name != "sqlite"
    if returns_ids:
        statement = statement.returning(table.c.id)
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    keys = tuple(compiled.positiontup if compiled.positional else compiled.binds)
    return CompiledInsert(
        sql=compiled.string,
        keys=keys,
        defaults=tuple(
            (column.key, column.default.arg, bool(column.default.is_callable))
            for column in compiled.insert_prefetch
        ),
        processors=tuple(
            table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys
        ),
        positional=compiled.positional,
        returns_ids=returns_ids,
    )


def insert_rows(
    cursor: Any, statement: CompiledInsert, rows: Sequence[Mapping[str, Any]]
) -> Callable[[], list[int]]:
    """Send `rows` to `cursor`'s connection; returns what tells their ids, in order (call it
    once the statement's results are in: at once, or after the pipeline it was sent in)."""
    parameters = [statement.parameters(row) for row in rows]
    if statement.returns_ids:
        cursor.executemany(statement.sql, parameters, returning=True)
        return lambda: _returned_ids(cursor)
    ids = []
    for row in parameters:
        cursor.execute(statement.sql, row)
        ids.append(cursor.lastrowid)
    return lambda: ids


def _returned_ids(cursor: Any) -> list[int]:
    ids = []
    while True:
        ids.append(cursor.fetchone()[0])
        if not cursor.nextset():
            return ids


def pipeline(dbapi_connection: Any) -> AbstractContextManager[Any]:
    """Where the driver can, a block whose statements (and commit) go to the server together."""
    start = getattr(dbapi_connection, "pipeline", None)
    return start() if start is not None else nullcontext()
