"""The intake's INSERTs, run on the driver's own connection: SQLAlchemy compiles each statement
once per database (its SQL, the Python defaults of the columns left out and the type conversions,
all read from the models), and each write then hands its rows straight to the driver. For these
small statements the ORM's and Core's execution machinery cost several times the driver's own
work, on every write.

On SQLite each row goes by its own INSERT (its cursor knows the rowid; there is no round trip to
save). On PostgreSQL a write is one statement (`intake_group`), which takes the keys, defaults
and conversions compiled here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = [row[key] if key in row else _default(self.defaults, key) for key in self.keys]
        converted = [
            value if process is None else process(value)
            for value, process in zip(values, self.processors, strict=True)
        ]
        return tuple(converted) if self.positional else dict(zip(self.keys, converted, strict=True))

    def with_value(self, parameters: Any, key: str, value: Any) -> Any:
        """`parameters` (as `parameters` made them) with `key`'s value replaced by `value`."""
        index = self.keys.index(key)
        process = self.processors[index]
        value = value if process is None else process(value)
        if not self.positional:
            return {**parameters, key: value}
        return (*parameters[:index], value, *parameters[index + 1 :])


def _default(defaults: tuple[tuple[str, Any, bool], ...], key: str) -> Any:
    for name, default, called in defaults:
        if name == key:
            return default(None) if called else default
    raise KeyError(key)


def compile_insert(table: Table, columns: Sequence[str], dialect: Dialect) -> CompiledInsert:
    """`INSERT INTO table (columns, and the columns with a Python default)` for `dialect`."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
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
    )


def insert_rows(cursor: Any, sql: str, parameters: Sequence[Any]) -> list[int]:
    """Run the INSERT `sql` once per row of `parameters` on `cursor` (SQLite); their ids, in
    order."""
    ids = []
    for row in parameters:
        cursor.execute(sql, row)
        ids.append(cursor.lastrowid)
    return ids
