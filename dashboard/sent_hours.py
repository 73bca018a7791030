"""Messages sent per hour, kept beside the rows so the statistics chart reads 720 small rows for
30 days instead of counting a million `sent_at` index entries.

A row holds how many messages have their `sent_at` in that hour. Only the handler that records
outcomes (`signals.record_delivery_results`) writes `sent_at`, and it calls `move_sends` in the
same transaction: a message sent again (a duplicate) leaves its old hour for the new one, so a
message is counted once, in the hour of its `sent_at`, whatever the retries. The statistics read
the finished hours from here and count the current hour live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .models import Message
from .stats_range import LABEL_FORMATS, floor_to
from .stats_sql import time_bucket


class SentHour(db.Model):
    """How many messages have their sent_at in the hour that starts at `hour` (naive UTC)."""

    __tablename__ = "sent_hour"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)


def add_to_hours(changes: Mapping[datetime, int]) -> None:
    """Add each change to its hour's count (in the caller's transaction), hours in order so
    that two concurrent writers lock the same rows in the same order."""
    upsert = postgresql_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    for hour in sorted(changes):
        if not changes[hour]:
            continue
        statement = upsert(SentHour).values(hour=floor_to(hour, "hour"), sent=changes[hour])
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=[SentHour.hour],
                set_={"sent": SentHour.sent + statement.excluded.sent},
            )
        )


def move_sends(message_ids: Collection[int], now: datetime) -> None:
    """Count these messages in `now`'s hour, and out of the hour of their previous sent_at if
    they had one. Call it in the transaction that sets their sent_at to `now`, before the update.
    """
    if not message_ids:
        return
    # Locked (PostgreSQL) so that two workers recording the same message count it once: the
    # second one waits and then reads the first one's sent_at.
    previous = db.session.execute(
        select(Message.id, Message.sent_at)
        .where(Message.id.in_(sorted(set(message_ids))))
        .order_by(Message.id)
        .with_for_update()
    ).all()
    changes: Counter[datetime] = Counter()
    for _, sent_at in previous:
        changes[floor_to(now, "hour")] += 1
        if sent_at is not None:
            changes[floor_to(sent_at, "hour")] -= 1
    add_to_hours(changes)


def sent_in_hours(start: datetime, end: datetime) -> dict[datetime, int]:
    """The kept counts of the hours that start in [start, end)."""
    rows = db.session.execute(
        select(SentHour.hour, SentHour.sent).where(SentHour.hour >= start, SentHour.hour < end)
    )
    return {hour: sent for hour, sent in rows if sent}


def recount_hours() -> None:
    """Count every hour again from the rows (what the migration does for existing rows), for
    rows written by other means than the handler: a bulk load, a restore."""
    db.session.execute(SentHour.__table__.delete())
    hour = time_bucket(Message.sent_at, "hour")
    rows = db.session.execute(
        select(hour, func.count()).where(Message.sent_at.is_not(None)).group_by(hour)
    )
    add_to_hours({datetime.strptime(label, LABEL_FORMATS["hour"]): n for label, n in rows})
