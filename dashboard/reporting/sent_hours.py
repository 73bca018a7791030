"""The hourly sent counts kept beside the rows, read back for the statistics' chart.

The send path writes them (`dashboard.sending.sent_counts`) in the transaction that records the
outcomes, and rebuilds them from the rows after a bulk load (`recount_from_rows`); the statistics
read the finished hours from here and count the current hour live.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import SentHour


def sent_in_hours(start: datetime, end: datetime) -> dict[datetime, int]:
    """The kept counts of the hours that start in [start, end)."""
    rows = db.session.execute(
        select(SentHour.hour, SentHour.sent).where(SentHour.hour >= start, SentHour.hour < end)
    )
    return {hour: sent for hour, sent in rows if sent}
