"""Handing message ids to the workers: chunked into batches, one Celery task per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import uuid4

from flask import current_app
from kombu.exceptions import OperationalError

from dashboard.models import Message

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


def publish_batches(batches: Sequence[Batch], *, queue: str) -> int:
    """Publish each batch's ids (after their rows are committed); return how many were published.

    A broker that cannot be reached loses nothing: the rows stay `queued` in the database
    and the sweeper re-enqueues them.
    """
    from dashboard.tasks import send_batch

    published = 0
    for batch in batches:
        try:
            send_batch.apply_async(args=[batch.message_ids], task_id=batch.task_id, queue=queue)
        except OperationalError as error:
            log.warning(
                "broker unreachable, %d batches left queued in the database: %s",
                len(batches) - published,
                error,
            )
            break
        published += 1
    return published
