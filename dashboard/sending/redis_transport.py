"""Kombu's Redis transport, made to survive a broker that goes away while tasks are unacked.

In Celery 5.7.0 a worker that loses its Redis broker collects the connection (which detaches
Kombu's transport from it) and then closes it. Closing the default channel gives its unacked
tasks back, which needs a Redis client, which needs the connection's address: the transport no
longer has one, and the `AttributeError` that follows is not a connection error, so it escapes
the consumer's reconnect loop: the worker stops ("Unrecoverable error"), or lives on and never
consumes again (seen in this project's tests and in its CI). Whether it happens depends on
whether a task was delivered and not yet acknowledged at that moment; with late acks (this
project's setting) that is most of the time under load.

Here a channel whose transport is detached raises Redis's own `ConnectionError` instead, which
Kombu and Celery treat as the broker being away: the close goes on, the worker reconnects, and
the unacked tasks come back through the visibility timeout. Celery uses this transport through
the `broker_transport` setting, for the brokers `uses_project_redis_transport` names
(dashboard/config.py).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
