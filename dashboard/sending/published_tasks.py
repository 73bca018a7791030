"""Which batch tasks reached the broker: `publishing.publish_batches` notes the id of each task
it handed over (a Redis key on REDIS_URL per task, kept past STALE_QUEUED_SECONDS), and the
sweeper asks about the tasks of rows long `queued` on a busy lane (`lost_tasks`).

A row stamped with a task id that was never noted was stored but never published: the web
process that committed it died before its publisher thread ran. Such a row waits behind no
task, however long its lane's queue is, so it is published again at once, while rows whose task
is merely waiting its turn are left alone. A store that cannot be written or read costs at most
a task published twice, which the claim makes harmless (one batch gets the rows).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from dashboard.sending.redis_clients import redis_client

log = logging.getLogger(__name__)

KEY_PREFIX = "dispatcher:published:"
# Publishing must not wait on this store: a note that cannot be written in time is skipped.
TIMEOUT_SECONDS = 0.5
# Kept this long past STALE_QUEUED_SECONDS: by then the sweeper's backstop has taken the row.
KEEP_PAST_BACKSTOP_SECONDS = 600
# Task ids per MGET.
CHUNK = 1000


def note_published(config: Mapping[str, Any], task_ids: Sequence[str]) -> None:
    """Note that these tasks are on the broker (one pipelined round trip)."""
    if not task_ids:
        return
    keep = int(float(config["STALE_QUEUED_SECONDS"])) + KEEP_PAST_BACKSTOP_SECONDS
    try:
        pipe = redis_client(config["REDIS_URL"], TIMEOUT_SECONDS).pipeline(transaction=False)
        for task_id in task_ids:
            pipe.set(KEY_PREFIX + task_id, b"1", ex=keep)
        pipe.execute()
    except redis.RedisError as error:
        log.warning("could not note %d published tasks: %s", len(task_ids), error)


def never_published(config: Mapping[str, Any], task_ids: Sequence[str]) -> list[str]:
    """The ids among `task_ids` that no publish was noted for; none when the store cannot be
    asked (then the sweeper's backstop stays the way back)."""
    unknown: list[str] = []
    try:
        client = redis_client(config["REDIS_URL"], TIMEOUT_SECONDS)
        for start in range(0, len(task_ids), CHUNK):
            chunk = task_ids[start : start + CHUNK]
            found = client.mget([KEY_PREFIX + task_id for task_id in chunk])
            unknown += [task_id for task_id, note in zip(chunk, found, strict=True) if note is None]
    except redis.RedisError as error:
        log.warning("sweeper: published tasks unknown (%s): %s", type(error).__name__, error)
        return []
    return unknown
