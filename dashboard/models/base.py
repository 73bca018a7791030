"""What every table shares: the clock timestamps default to, the largest id a column holds and
ids never given twice."""

from __future__ import annotations

from datetime import UTC, datetime

# The id columns are INTEGER: PostgreSQL's stops at 2**31 - 1 and refuses a larger parameter
# (an error, not "no row"); SQLite's is wider, but no id there gets that far either.
MAX_DATABASE_ID = 2**31 - 1

#: The table option of the tables whose ids people and programs keep (a campaign's page, an API
#: job, a webhook event) and whose rows can be deleted: SQLite gives a deleted newest row's id to
#: the next row unless the table is AUTOINCREMENT; PostgreSQL's sequences never reuse one.
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    """Naive UTC, the one way times are stored (SQLite keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)
