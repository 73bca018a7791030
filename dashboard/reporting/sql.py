"""SQL for the statistics that differs between SQLite and PostgreSQL, kept in one place (but for
`time_bucket`, which the sent counts on the send path use too: `dashboard.sending.time_buckets`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, case, func, literal_column, text

from dashboard.extensions import db
from dashboard.sending.time_buckets import LABEL_FORMATS, time_bucket

PREFIX_CHARS = {"day": 10, "hour": 13}


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


def local_bucket(
    column: ColumnElement, unit: str, stretches: list[tuple[datetime, int]]
) -> tuple[ColumnElement, ColumnElement | None]:
    """The hour or day of `column` in a zone, as `bucket_start` gives it for UTC, and the UTC
    offset it was read with when the range has more than one (`stretches`, from
    `zone_buckets.offset_stretches`). Grouped by both, no group straddles a local bucket: a
    repeated hour (clocks going back) is two offsets.
    """
    seconds = [literal_column(str(int(offset))) for _, offset in stretches]
    if len(stretches) == 1:
        if stretches[0][1] == 0:
            return bucket_start(column, unit), None
        offset: ColumnElement = seconds[0]
        changes = None
    else:
        # Only the changes inside the range: a CASE of two or three branches per row.
        offset = changes = case(
            *((column < until, n) for n, (until, _) in zip(seconds, stretches[1:], strict=False)),
            else_=seconds[-1],
        )
    if db.engine.dialect.name == "postgresql":
        shifted = column + offset * literal_column("interval '1 second'")
        return func.date_trunc(unit, shifted), changes
    # SQLite: datetime() takes the shift as a modifier ('+25200 seconds') and writes ISO text.
    modifier = func.printf("%+d seconds", offset)
    return func.substr(func.datetime(column, modifier), 1, PREFIX_CHARS[unit]), changes


def as_moment(value: datetime | str, unit: str) -> datetime:
    """A `bucket_start` value as a datetime."""
    return value if isinstance(value, datetime) else datetime.strptime(value, LABEL_FORMATS[unit])


def recipient_domain(column: ColumnElement) -> ColumnElement[str]:
    """The lower-cased part after the last `@` (the history's `domain` filter matches it)."""
    if db.engine.dialect.name == "postgresql":
        # After the last "@": cheaper than a regular expression per row.
        return func.lower(func.reverse(func.split_part(func.reverse(column), "@", 1)))
    return func.lower(func.substr(column, func.instr(column, "@") + 1))
