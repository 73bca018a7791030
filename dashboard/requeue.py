"""Putting rows back on the broker: due scheduled and retrying messages (the beat dispatcher),
stale rows (the sweeper), and claimed messages a task hands back unsent.

Every path moves rows with a conditional UPDATE first, commits, and only then publishes their
ids in batches (enqueue after commit); the claim makes any extra copy on the broker harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import insert, select, update

from dashboard.delivery import claim_messages
from dashboard.dispatch import Batch, cut_batches, publish_batches
from dashboard.extensions import db
from dashboard.models import (
    Campaign,
    DeliveryAttempt,
    Message,
    MessageStatus,
    held_campaigns,
    utcnow,
)

log = logging.getLogger(__name__)

# Rows one beat run moves at most; the next run takes the rest a second or two later.
MAX_ROWS_PER_RUN = 10_000
STALE_OUTCOME = "stale"


def publish_messages(message_ids: Sequence[int]) -> int:
    """Stamp the (committed, `queued`) messages with fresh batch task ids and publish them.

    Batches never mix campaigns, so each goes on its campaign's queue.
    """
    if not message_ids:
        return 0
    rows = db.session.execute(
        select(Message.id, Message.campaign_id, Campaign.queue)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.id.in_(message_ids))
        .order_by(Message.campaign_id, Message.id)
    ).all()
    by_campaign: dict[tuple[int, str], list[int]] = {}
    for message_id, campaign_id, queue in rows:
        by_campaign.setdefault((campaign_id, queue), []).append(message_id)
    planned: list[tuple[str, Batch]] = []
    try:
        for (_, queue), ids in by_campaign.items():
            for batch in cut_batches(ids, queue):
                db.session.execute(
                    update(Message)
                    .where(Message.id.in_(batch.message_ids))
                    .values(task_id=batch.task_id)
                    .execution_options(synchronize_session=False)
                )
                planned.append((queue, batch))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    published = 0
    for queue, batch in planned:
        if not publish_batches([batch], queue=queue):
            break  # the broker is down: the rows stay `queued` and the sweeper tries again
        published += len(batch.message_ids)
    return published


def dispatch_due(now: datetime | None = None) -> int:
    """Queue every `scheduled` or `retrying` message whose time has come (campaigns that are not
    paused or cancelled) with one conditional UPDATE, then publish them; returns how many."""
    now = now or utcnow()
    due = (
        Message.status.in_((MessageStatus.SCHEDULED, MessageStatus.RETRYING)),
        Message.next_attempt_at <= now,
        Message.campaign_id.not_in(held_campaigns()),
    )
    candidates = list(
        db.session.scalars(
            select(Message.id).where(*due).order_by(Message.next_attempt_at).limit(MAX_ROWS_PER_RUN)
        )
    )
    if not candidates:
        db.session.rollback()
        return 0
    try:
        moved = list(
            db.session.scalars(
                update(Message)
                .where(Message.id.in_(candidates), *due)
                .values(status=MessageStatus.QUEUED, next_attempt_at=None, updated_at=now)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    publish_messages(sorted(moved))
    if moved:
        log.info("dispatched %d due messages", len(moved))
    return len(moved)


def hand_back(message_ids: Sequence[int], *, until: datetime, reason: str) -> int:
    """Return claimed messages that were not tried (a used-up quota, a limiter that could not be
    reached) to `retrying` until `until`, their claim's attempt undone; they do not fail."""
    if not message_ids:
        return 0
    try:
        result = db.session.execute(
            update(Message)
            .where(Message.id.in_(message_ids), Message.status == MessageStatus.SENDING)
            .values(
                status=MessageStatus.RETRYING,
                next_attempt_at=until,
                attempts=Message.attempts - 1,  # the claim counted an attempt never made
                last_reply=reason[:2000],
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result.rowcount or 0


def claim_batch(message_ids: Sequence[int], *, task_id: str, redelivered: bool) -> list[int]:
    """The ids a delivery of a batch task may send: its `queued` or `retrying` rows, claimed;
    and, when the broker delivers the task again, first the rows an earlier delivery of it left
    in `sending` (taken over, resent once). In that order: taken over after the claim, the rows
    just claimed would count as orphans, and an unsent message be logged as a possible duplicate.
    """
    orphans = take_over_orphans(message_ids, task_id=task_id) if redelivered else []
    claimed = claim_messages(message_ids, task_id=task_id)
    return sorted({*claimed, *orphans})


def take_over_orphans(message_ids: Sequence[int], *, task_id: str | None) -> list[int]:
    """For a batch the broker delivered again (its worker died mid-batch: a killed pool process
    is requeued at once): take over its rows still `sending` under this same task id, once.

    Like the sweeper's stale resend, only sooner: each may already have reached the server, so
    it is resent at most once, logged as a `stale` attempt and counted in `stale_resends`.
    """
    if not message_ids or not task_id:
        return []
    now = utcnow()
    try:
        taken = list(
            db.session.scalars(
                update(Message)
                .where(
                    Message.id.in_(message_ids),
                    Message.status == MessageStatus.SENDING,
                    Message.task_id == task_id,
                    Message.stale_resends == 0,
                )
                .values(
                    stale_resends=Message.stale_resends + 1,
                    attempts=Message.attempts + 1,
                    claimed_at=now,
                    updated_at=now,
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        reply = "its worker died mid-batch; resent once (it may arrive twice)"
        _log_stale(taken, now, reply, by=f"redelivered {task_id}")
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if taken:
        log.warning("task %s took over %d orphaned messages", task_id, len(taken))
    return sorted(taken)


def _log_stale(message_ids: Sequence[int], now: datetime, reply: str, *, by: str) -> None:
    if message_ids:
        db.session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "message_id": message_id,
                    "outcome": STALE_OUTCOME,
                    "smtp_reply": reply,
                    "worker": by[:200],
                    "finished_at": now,
                }
                for message_id in message_ids
            ],
        )


def stale_sending_seconds() -> float:
    """How long a row may stay `sending`: the setting, or longer when the rate limit makes one
    batch take longer than that."""
    config = current_app.config
    seconds = float(config["STALE_SENDING_SECONDS"])
    per_second = float(config["RATE_LIMIT_PER_SECOND"])
    if per_second > 0:
        seconds = max(seconds, 2 * int(config["MAIL_BATCH_SIZE"]) / per_second)
    return seconds


def sweep_stale(now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue rows stuck in `queued` (their task was lost with the broker) or `sending`
    (their worker died) past the timeouts.

    A stale `sending` row may or may not have reached the server, so it is resent once (at
    least once; a possible duplicate, logged as a `stale` attempt) and failed if it sticks again.
    """
    now = now or utcnow()
    config = current_app.config
    queued_cutoff = now - timedelta(seconds=float(config["STALE_QUEUED_SECONDS"]))
    sending_cutoff = now - timedelta(seconds=stale_sending_seconds())
    held = held_campaigns()
    try:
        requeued = list(
            db.session.scalars(
                update(Message)
                .where(
                    Message.status == MessageStatus.QUEUED,
                    Message.updated_at < queued_cutoff,
                    Message.campaign_id.not_in(held),
                )
                .values(updated_at=now)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        stuck = (Message.status == MessageStatus.SENDING, Message.claimed_at < sending_cutoff)
        resent = list(
            db.session.scalars(
                update(Message)
                .where(*stuck, Message.stale_resends == 0)
                .values(
                    status=MessageStatus.QUEUED,
                    stale_resends=Message.stale_resends + 1,
                    updated_at=now,
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        reply = "was still sending when its worker stopped; resent once (it may arrive twice)"
        _log_stale(resent, now, reply, by="sweeper")
        failed = db.session.execute(
            update(Message)
            .where(*stuck, Message.stale_resends > 0)
            .values(
                status=MessageStatus.FAILED,
                last_reply="stuck in sending again after one resend; not resent a second time",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    publish_messages(sorted(requeued + resent))
    report = {"requeued": len(requeued), "resent": len(resent), "failed": failed or 0}
    if any(report.values()):
        log.warning("sweeper: %s", report)
    return report
