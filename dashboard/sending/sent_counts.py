"""What the outcome handler keeps beside the rows for the statistics: messages sent per hour,
so the chart reads 720 small rows for 30 days instead of counting a million `sent_at` index
entries, and the messages sent more than once (duplicates), so the page need not probe the
attempts of every retried message.

A `sent_hour` row holds how many messages have their `sent_at` in that hour. Only the handler
that records outcomes (`outcomes.record_outcomes`) writes `sent_at` and sent attempts, and
it calls `move_sends` in the same transaction: a message sent again leaves its old hour for the
new one (so a message is counted once, in the hour of its `sent_at`, whatever the retries) and is
listed in `duplicate_send`. The statistics (`dashboard.reporting.sent_hours`) read the finished
hours from here and count the current hour live.

This is the writing half, on the send path because it is written in the outcomes' transaction;
`recount_from_rows` writes both tables again from the rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Insert, Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dashboard.extensions import db
from dashboard.models import DeliveryAttempt, DuplicateSend, Message, SentHour
from dashboard.sending.id_lists import among_ids, dialect_name, ids_parameter
from dashboard.sending.time_buckets import LABEL_FORMATS, floor_to, time_bucket


@cache
def _upserts(dialect: str) -> tuple[Insert, Insert]:
    """The statements adding to an hour's count and listing a duplicate, built once per dialect:
    the outcome handler runs them on every flush of every batch."""
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    hours = SentHour.__table__
    add = upsert(hours).values(hour=bindparam("hour"), sent=bindparam("sent"))
    add = add.on_conflict_do_update(
        index_elements=[hours.c.hour], set_={"sent": hours.c.sent + add.excluded.sent}
    )
    duplicate = upsert(DuplicateSend.__table__).values(message_id=bindparam("message_id"))
    return add, duplicate.on_conflict_do_nothing()


@cache
def _previous_sent_at(dialect: str) -> Select[tuple[int, datetime | None]]:
    """Locked (PostgreSQL) so that two workers recording the same message count it once: the
    second one waits and then reads the first one's sent_at. Of the table, not the mapped class:
    a flush reads hundreds of rows, and the ORM's result machinery cost more than the query."""
    table = Message.__table__
    return (
        select(table.c.id, table.c.sent_at)
        .where(among_ids(table.c.id, dialect))
        .order_by(table.c.id)
        .with_for_update()
    )


def add_duplicates(message_ids: Collection[int]) -> None:
    """List these messages as sent more than once (again is harmless)."""
    if not message_ids:
        return
    _, duplicate = _upserts(db.engine.dialect.name)
    db.session.execute(duplicate, [{"message_id": i} for i in sorted(set(message_ids))])


def add_to_hours(changes: Mapping[datetime, int]) -> None:
    """Add each change to its hour's count (in the caller's transaction), hours in order so
    that two concurrent writers lock the same rows in the same order."""
    add, _ = _upserts(db.engine.dialect.name)
    for hour in sorted(changes):
        if changes[hour]:
            db.session.execute(add, {"hour": floor_to(hour, "hour"), "sent": changes[hour]})


def move_sends(message_ids: Sequence[int], now: datetime) -> None:
    """Count these messages (one per sent result) in `now`'s hour, and out of the hour of their
    previous sent_at if they had one; those sent before, or twice in this chunk, are duplicates.
    Call it in the transaction that sets their sent_at to `now`, before the update."""
    if not message_ids:
        return
    results_of = Counter(message_ids)
    dialect = dialect_name()
    ids = ids_parameter(sorted(set(message_ids)), dialect)
    previous = db.session.execute(_previous_sent_at(dialect), {"ids": ids}).all()
    changes: Counter[datetime] = Counter({floor_to(now, "hour"): len(previous)})
    duplicates = []
    for message_id, sent_at in previous:
        if sent_at is not None:
            changes[floor_to(sent_at, "hour")] -= 1
        if sent_at is not None or results_of[message_id] > 1:
            duplicates.append(message_id)
    add_to_hours(changes)
    add_duplicates(duplicates)


def recount_from_rows() -> None:
    """Count every hour and find the duplicates again from the rows (what the migration does
    for existing rows), for rows written by other means than the handler: a bulk load, a
    restore."""
    db.session.execute(SentHour.__table__.delete())
    db.session.execute(DuplicateSend.__table__.delete())
    add_duplicates(
        db.session.scalars(
            select(DeliveryAttempt.message_id)
            .where(DeliveryAttempt.outcome == "sent")
            .group_by(DeliveryAttempt.message_id)
            .having(func.count() > 1)
        ).all()
    )
    hour = time_bucket(Message.sent_at, "hour")
    rows = db.session.execute(
        select(hour, func.count()).where(Message.sent_at.is_not(None)).group_by(hour)
    )
    add_to_hours({datetime.strptime(label, LABEL_FORMATS["hour"]): n for label, n in rows})
