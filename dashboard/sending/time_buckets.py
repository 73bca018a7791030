"""Time cut into minutes, hours and days, the way the sent counts and the statistics cut it: a
moment floored to its bucket, the bucket a column falls in as SQL, and that bucket's text form.

They live here, low, because the hourly sent counts (`sent_counts`) are written on the send
path; the statistics in `dashboard.reporting` read with the same buckets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func

from dashboard.extensions import db

LABEL_FORMATS = {"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H", "minute": "%Y-%m-%d %H:%M"}


def floor_to(moment: datetime, unit: str) -> datetime:
    if unit == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(second=0, microsecond=0)


def time_bucket(column: ColumnElement, unit: str) -> ColumnElement[str]:
    """The start of the minute, hour or day `column` falls in, as text (`LABEL_FORMATS`)."""
    if db.engine.dialect.name == "postgresql":
        pattern = {"day": "YYYY-MM-DD", "hour": "YYYY-MM-DD HH24", "minute": "YYYY-MM-DD HH24:MI"}
        return func.to_char(column, pattern[unit])
    # SQLite keeps datetimes as ISO text, so the bucket is a prefix of it.
    return func.substr(column, 1, {"day": 10, "hour": 13, "minute": 16}[unit])
