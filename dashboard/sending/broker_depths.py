"""How many batches wait on each of the broker's queues, asked of the broker itself (Redis,
RabbitMQ or SQS alike): the sweeper reads it to tell an empty lane from a busy one, and the
health probes and metrics in `ops` show it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from amqp.exceptions import ChannelError
from kombu import Connection

#: A look at the broker gives up after this many seconds.
PROBE_TIMEOUT_SECONDS = 2.0


def broker_connection(config: Mapping[str, Any]) -> Connection:
    """A connection to the broker that gives up after PROBE_TIMEOUT_SECONDS, with the
    deployment's transport options (SQS's region and queue name prefix among them)."""
    celery = config["CELERY"]
    return Connection(
        celery["broker_url"],
        connect_timeout=PROBE_TIMEOUT_SECONDS,
        transport_options={
            **celery.get("broker_transport_options", {}),
            "socket_timeout": PROBE_TIMEOUT_SECONDS,
            "socket_connect_timeout": PROBE_TIMEOUT_SECONDS,
            "max_retries": 0,
            # SQS: botocore's own timeouts are a minute, with retries.
            "client-config": {
                "connect_timeout": PROBE_TIMEOUT_SECONDS,
                "read_timeout": PROBE_TIMEOUT_SECONDS,
                "retries": {"total_max_attempts": 1},
            },
        },
    )


def queue_depths(config: Mapping[str, Any], queues: Iterable[str]) -> dict[str, int]:
    """How many batches wait on each queue (not counting those a worker has reserved).

    A queue the broker has never seen (or has lost) is empty. Raises kombu's OperationalError
    when the broker does not answer in time.
    """
    depths: dict[str, int] = {}
    with broker_connection(config) as connection:
        connection.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_SECONDS)
        for queue in queues:
            channel = connection.channel()
            try:
                _, waiting, _ = channel.queue_declare(queue=queue, passive=True)
                depths[queue] = int(waiting)
            except ChannelError:  # not declared: nothing was published to it, or it was lost
                depths[queue] = 0
            finally:
                channel.close()
    return depths
