"""How long one batch can hold its task, and whether the broker waits that long before it hands
the task to another worker.

Redis and SQS hide a task that a worker took for the broker's visibility timeout
(`CELERY_VISIBILITY_TIMEOUT`) and hand it out again once it runs out, whether or not the first
worker is still at it. Such a copy finds its rows under the first batch's lease and sends
nothing (sending/leases.py), so a timeout shorter than the longest batch costs one empty claim
per timeout, while too long a timeout delays the batch of a worker that died. Only a timeout
shorter than an ordinary bulk slice is refused: every batch would be handed out twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dashboard.sending.slices import slice_seconds

log = logging.getLogger(__name__)

#: An SMTP session's set-up, each step bounded by MAIL_TIMEOUT: connect and greeting, EHLO and
#: STARTTLS, AUTH.
SETUP_STEPS = 3
#: One message's exchange: MAIL FROM, RCPT TO, DATA, the end of the data.
MESSAGE_STEPS = 4
#: What a message costs on a server that answers (every step within a second); one message of
#: a batch may take its full MAIL_TIMEOUT per step, after which the session fails and the batch
#: ends (the rest are handed back).
ANSWERING_MESSAGE_SECONDS = 1.0


def longest_batch_seconds(config: Mapping[str, Any]) -> float:
    """The longest one batch task can run before it ends by itself.

    A bulk batch stops taking messages once its time slice (BULK_SLICE_SECONDS) is over; the
    one under way then finishes. A transactional batch sends up to MAIL_BATCH_SIZE messages,
    paced by the per-second rate limit when there is one. Both pay the session's set-up and at
    most one message that uses up its timeouts."""
    timeout = float(config["MAIL_TIMEOUT"])
    worst_message = MESSAGE_STEPS * timeout
    setup = SETUP_STEPS * timeout
    bulk = slice_seconds(config) + setup + worst_message
    per_second = float(config.get("RATE_LIMIT_PER_SECOND") or 0)
    pace = max(ANSWERING_MESSAGE_SECONDS, 1.0 / per_second if per_second > 0 else 0.0)
    transactional = setup + int(config["MAIL_BATCH_SIZE"]) * pace + worst_message
    return max(bulk, transactional)


def shortest_batch_seconds(config: Mapping[str, Any]) -> float:
    """What every bulk batch lasts when there is work: its time slice, plus one message."""
    return slice_seconds(config) + ANSWERING_MESSAGE_SECONDS


class VisibilityTimeoutTooShort(RuntimeError):
    """The broker would hand out every batch again while it is still running."""


def check_visibility_timeout(config: Mapping[str, Any]) -> str | None:
    """Refuse a visibility timeout shorter than an ordinary bulk batch (every batch would run
    twice); return a warning, also logged, when it is shorter than the longest batch; None when
    it is long enough or the broker has none (RabbitMQ redelivers when a connection drops)."""
    celery = config["CELERY"]
    if not str(celery["broker_url"]).startswith(("redis://", "rediss://", "sqs://")):
        return None
    timeout = float(celery.get("broker_transport_options", {}).get("visibility_timeout", 0))
    if timeout <= 0:
        return None
    if timeout < shortest_batch_seconds(config):
        raise VisibilityTimeoutTooShort(
            f"CELERY_VISIBILITY_TIMEOUT={timeout:g} is shorter than a bulk batch's time slice "
            f"(BULK_SLICE_SECONDS={slice_seconds(config):g} plus one message): the broker would "
            "hand every batch to a second worker while the first still sends it"
        )
    longest = longest_batch_seconds(config)
    if timeout >= longest:
        return None
    warning = (
        f"CELERY_VISIBILITY_TIMEOUT={timeout:g} is shorter than the longest a batch can run "
        f"(about {longest:.0f} s from MAIL_TIMEOUT, MAIL_BATCH_SIZE, BULK_SLICE_SECONDS and "
        "RATE_LIMIT_PER_SECOND): a long batch is handed to another worker while it runs, and "
        "that copy finds the rows leased and sends nothing; only a dead worker's batch waits it out"
    )
    log.info(warning)
    return warning
