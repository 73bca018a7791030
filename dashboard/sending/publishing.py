"""Handing message ids to the workers: chunked into batches, one Celery task per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, utcnow
from dashboard.sending.published_tasks import note_published
from dashboard.sending.queues import SEND_BATCH

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    task_id: str
    message_ids: list[int]


def batch_size_for(queue: str) -> int:
    """Ids per task: big chunks for bulk campaigns (one SMTP connection each), small ones for
    transactional mail so a single email is never stuck behind a long batch."""
    key = "BULK_BATCH_SIZE" if queue == "bulk" else "MAIL_BATCH_SIZE"
    return max(int(current_app.config[key]), 1)


def cut_batches(message_ids: Sequence[int], queue: str) -> list[Batch]:
    """Cut ids into the queue's batches, each with a fresh task id (see `batch_size_for`)."""
    size = batch_size_for(queue)
    return [
        Batch(task_id=str(uuid4()), message_ids=list(message_ids[start : start + size]))
        for start in range(0, len(message_ids), size)
    ]


def plan_batches(messages: Sequence[Message], queue: str) -> list[Batch]:
    """Cut flushed messages into batches, stamping each row with its batch's task id.

    Call it after a flush (so ids are known) and before the commit that stores the stamps.
    """
    by_id = {message.id: message for message in messages}
    batches = cut_batches([message.id for message in messages], queue)
    for batch in batches:
        for message_id in batch.message_ids:
            by_id[message_id].task_id = batch.task_id
    return batches


def send_task(
    name: str,
    args: list[Any],
    *,
    queue: str,
    task_id: str | None = None,
    sent_event: bool = True,
    argsrepr: str | None = None,
) -> None:
    """Publish the task called `name` with `args` on `queue` (see `queues.py` for why by name).

    Not Celery's `send_task`: that one also subscribes this process to the task's result in the
    result backend (for a `.get()` the web app never makes), a round trip per publish that
    blocks for ~20 s when the backend is away. The worker still stores the result. Without
    `sent_event` no task-sent event is published beside the task (the API's hot path).
    `argsrepr` is how monitoring shows the arguments (Celery's own walks them all to cut it).
    """
    celery = current_app.extensions["celery"]
    message = celery.amqp.create_task_message(
        task_id or str(uuid4()), name, args, {}, create_sent_event=sent_event, argsrepr=argsrepr
    )
    with celery.producer_or_acquire() as producer:
        celery.amqp.send_task_message(producer, name, message, queue=queue)


def ids_repr(message_ids: Sequence[int]) -> str:
    """A batch's ids as monitoring shows them: how many, the first and the last (Celery's own
    repr walks all 2,000 ids of a bulk batch, about 1 ms, to show the first few hundred)."""
    if not message_ids:
        return "[[]]"
    return f"[<{len(message_ids)} message ids, {message_ids[0]} to {message_ids[-1]}>]"


def publish_batches(batches: Sequence[Batch], *, queue: str, sent_event: bool = True) -> int:
    """Publish each batch's ids (after their rows are committed); return how many were published.

    It never raises: the rows are stored, so whatever the broker says (unreachable, refusing
    at the protocol level, a vhost gone) the submission stands. The ids it could not publish
    are marked for the dispatcher (`mark_unpublished`), which publishes them at its next run
    after the broker answers again; the tasks it published are noted (`published_tasks`), so
    that rows whose task never got here are told from rows whose task waits its turn.
    `sent_event`: see `send_task`.
    """
    published = _publish_each(batches, queue=queue, sent_event=sent_event)
    note_published(current_app.config, [batch.task_id for batch in batches[:published]])
    return published


def _publish_each(batches: Sequence[Batch], *, queue: str, sent_event: bool) -> int:
    published = 0
    for batch in batches:
        try:
            send_task(
                SEND_BATCH,
                [batch.message_ids],
                queue=queue,
                task_id=batch.task_id,
                sent_event=sent_event,
                argsrepr=ids_repr(batch.message_ids),
            )
        # Any error: kombu's OperationalError, amqp's NotAllowed, a Redis or socket error...
        except Exception as error:
            log.warning(
                "broker refused (%s), %d batches left queued in the database: %s",
                type(error).__name__,
                len(batches) - published,
                error,
            )
            mark_unpublished([i for b in batches[published:] for i in b.message_ids])
            break
        published += 1
    return published


def mark_unpublished(message_ids: Sequence[int]) -> None:
    """Stamp `queued` rows whose task could not be published with a due `next_attempt_at`:
    the dispatcher publishes such rows at its next run (the sweeper is the last resort, when
    even this write fails)."""
    if not message_ids:
        return
    try:
        with transaction():
            for start in range(0, len(message_ids), 1000):
                db.session.execute(
                    update(Message)
                    .where(
                        Message.id.in_(message_ids[start : start + 1000]),
                        Message.status == MessageStatus.QUEUED,
                    )
                    .values(next_attempt_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
    except SQLAlchemyError as error:
        log.warning("could not mark %d unpublished messages: %s", len(message_ids), error)


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
    with transaction():
        for (_, queue), ids in by_campaign.items():
            for batch in cut_batches(ids, queue):
                db.session.execute(
                    update(Message)
                    .where(Message.id.in_(batch.message_ids))
                    .values(task_id=batch.task_id)
                    .execution_options(synchronize_session=False)
                )
                planned.append((queue, batch))
    published = 0
    for number, (queue, batch) in enumerate(planned):
        if not publish_batches([batch], queue=queue):
            # The broker refused: this batch is marked for the dispatcher, and so are the rest.
            mark_unpublished([i for _, later in planned[number + 1 :] for i in later.message_ids])
            break
        published += len(batch.message_ids)
    return published


def publish_campaign(
    campaign: Campaign, statuses: Sequence[MessageStatus] = (MessageStatus.QUEUED,)
) -> int:
    """Publish the ids of the campaign's messages in `statuses`, in chunks; returns how many."""
    ids = list(
        db.session.scalars(
            select(Message.id)
            .where(Message.campaign_id == campaign.id, Message.status.in_(statuses))
            .order_by(Message.id)
        )
    )
    # The rows are not stamped with their batch's task id (the claim stamps them): a resume or
    # a retry would need an UPDATE per batch for it. A confirm stamps each batch in the UPDATE
    # that queues it (`campaigns.confirm`).
    publish_batches(cut_batches(ids, campaign.queue), queue=campaign.queue)
    return len(ids)
