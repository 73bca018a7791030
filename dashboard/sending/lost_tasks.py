"""Finding `queued` rows whose task was lost (Redis wiped, a RabbitMQ queue purged or its vhost
recreated) or never published (the web process died between its commit and its publish) in a
minute rather than at the sweeper's backstop.

A row still `queued` QUEUED_RECHECK_SECONDS after it was published, on a lane whose broker queue
is empty, has no task waiting for it: at most one a worker has reserved and not yet started, which
a second copy cannot harm (the claim lets only one of them have the row). On a lane that is not
empty, only the rows whose task was never published (`published_tasks`) go again; the others
wait their turn, so a big campaign is never republished sweep after sweep. When the broker cannot
say how deep its queues are, every lane counts as busy; STALE_QUEUED_SECONDS stays the backstop
for a task lost from a busy queue.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, held_campaigns
from dashboard.sending.broker_depths import queue_depths
from dashboard.sending.published_tasks import never_published
from dashboard.sending.publishing import publish_messages

log = logging.getLogger(__name__)

#: At most this many rows are republished by one sweep (the next sweep takes the rest).
REPUBLISH_LIMIT = 50_000
# Ids per stamping UPDATE and per publish: well under any database's bound parameter limit.
CHUNK = 1_000
#: Rows of busy lanes whose task is looked up per sweep: those that passed the re-check age
#: last first, so each is looked at as soon as it passes it.
BUSY_LANE_ROWS = 20_000


def empty_lanes(lanes: Sequence[str]) -> list[str]:
    """The lanes whose broker queue holds nothing; none when the broker cannot be asked."""
    if not lanes:
        return []
    try:
        depths = queue_depths(current_app.config, lanes)
    except Exception as error:  # any failure means "don't know": leave it to the backstop
        log.warning("sweeper: queue depths unknown (%s): %s", type(error).__name__, error)
        return []
    return [lane for lane in lanes if depths.get(lane) == 0]


def republish_lost_tasks(now: datetime) -> int:
    """Publish again the rows `queued` longer than QUEUED_RECHECK_SECONDS on lanes whose broker
    queue is empty, and those on busy lanes whose task was never published (at most
    REPUBLISH_LIMIT per call); return how many were published."""
    cutoff = now - timedelta(seconds=float(current_app.config["QUEUED_RECHECK_SECONDS"]))
    waiting = (
        Message.status == MessageStatus.QUEUED,
        Message.updated_at < cutoff,
        Message.campaign_id.not_in(held_campaigns()),
    )
    lanes = list(
        db.session.scalars(
            select(Campaign.queue)
            .join(Message, Message.campaign_id == Campaign.id)
            .where(*waiting)
            .distinct()
            .order_by(Campaign.queue)
        )
    )
    db.session.rollback()  # no transaction held open while the broker is asked
    empty = empty_lanes(lanes)
    busy = [lane for lane in lanes if lane not in empty]
    candidates = []
    if empty:
        candidates = list(
            db.session.scalars(
                select(Message.id)
                .join(Campaign, Campaign.id == Message.campaign_id)
                .where(*waiting, Campaign.queue.in_(empty))
                .order_by(Message.id)
                .limit(REPUBLISH_LIMIT)
            )
        )
    if busy:
        candidates += _never_published(waiting, busy)
    if not candidates:
        db.session.rollback()
        return 0
    ids: list[int] = []
    with transaction():
        for start in range(0, len(candidates), CHUNK):
            # Stamped now, so the next sweep waits QUEUED_RECHECK_SECONDS again for these.
            ids += db.session.scalars(
                update(Message)
                .where(Message.id.in_(candidates[start : start + CHUNK]), *waiting)
                .values(updated_at=now)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
    ids.sort()
    published = 0
    for start in range(0, len(ids), CHUNK):
        published += publish_messages(ids[start : start + CHUNK])
    if ids:
        log.warning(
            "sweeper: %d queued rows published again (empty lanes %s; busy lanes %s: only rows "
            "whose task was never published)",
            len(ids),
            empty,
            busy,
        )
    return published


def _never_published(waiting: tuple, lanes: Sequence[str]) -> list[int]:
    """The waiting rows of busy `lanes` whose task never reached the broker."""
    rows = db.session.execute(
        select(Message.id, Message.task_id)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(*waiting, Campaign.queue.in_(lanes), Message.task_id.is_not(None))
        .order_by(Message.updated_at.desc())
        .limit(BUSY_LANE_ROWS)
    ).all()
    db.session.rollback()  # no transaction held open while the store is asked
    lost = set(never_published(current_app.config, sorted({task_id for _, task_id in rows})))
    return sorted(message_id for message_id, task_id in rows if task_id in lost)[:REPUBLISH_LIMIT]
