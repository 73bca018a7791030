"""The sending side's Redis clients: one per URL and timeout in each process, connecting on first
use. Each caller names its timeout: the pages and the publisher must not wait on a store that
does not answer, the rate limit may."""

from __future__ import annotations

from functools import lru_cache

import redis


@lru_cache(maxsize=16)
def redis_client(url: str, timeout: float) -> redis.Redis:
    """A client of `url` whose connects and commands give up after `timeout` seconds."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
