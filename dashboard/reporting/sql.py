"""SQL for the statistics that differs between SQLite and PostgreSQL, kept in one place (but for
`time_bucket`, which the sent counts on the send path use too: `dashboard.sending.time_buckets`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, text

from dashboard.extensions import db
from dashboard.sending.time_buckets import LABEL_FORMATS, time_bucket


def without_jit() -> None:
    """PostgreSQL: no JIT compiling for the rest of this transaction.

    The statistics' index scans cost enough for the planner to JIT-compile them, which then
    spends 10 to 30 ms compiling expressions that run on a few thousand rows.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))


def bucket_start(column: ColumnElement, unit: str) -> ColumnElement:
    """The start of the hour or day `column` falls in; read it back with `as_moment`.

    PostgreSQL truncates the timestamp (to_char costs a microsecond or more a row); SQLite keeps
    datetimes as ISO text, so there it is `time_bucket`'s prefix.
    """
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc(unit, column)
    return time_bucket(column, unit)


def as_moment(value: datetime | str, unit: str) -> datetime:
    """A `bucket_start` value as a datetime."""
    return value if isinstance(value, datetime) else datetime.strptime(value, LABEL_FORMATS[unit])


def recipient_domain(column: ColumnElement) -> ColumnElement[str]:
    """The lower-cased part after the last `@` (the history's `domain` filter matches it)."""
    if db.engine.dialect.name == "postgresql":
        # After the last "@": cheaper than a regular expression per row.
        return func.lower(func.reverse(func.split_part(func.reverse(column), "@", 1)))
    return func.lower(func.substr(column, func.instr(column, "@") + 1))
