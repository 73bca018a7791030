"""What every table shares: the clock timestamps default to and the largest id a column holds."""

from __future__ import annotations

from datetime import UTC, datetime

# The id columns are INTEGER: PostgreSQL's stops at 2**31 - 1 and refuses a larger parameter
# (an error, not "no row"); SQLite's is wider, but no id there gets that far either.
MAX_DATABASE_ID = 2**31 - 1


def utcnow() -> datetime:
    """Naive UTC, the one way times are stored (SQLite keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)
