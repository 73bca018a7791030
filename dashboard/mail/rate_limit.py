"""A rate limit shared by every worker and process: a token bucket (per second) and a daily
counter (per day) for one SMTP account, kept in Redis and updated by one atomic Lua script.

Plain Python and Redis: no Flask, no database. The account's key is a hash of its server and
user name, never of its password.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import redis

T = TypeVar("T")

# KEYS[1]: the bucket (a hash of tokens and the time they were counted), KEYS[2]: today's count.
# ARGV: tokens per second (0 = none), bucket size, messages per day (0 = none), counter TTL.
# Answers 0 (take the token: go), a positive number of milliseconds to wait, or -1 (the day's
# quota is used up). Redis's own clock is used, so workers' clocks need not agree.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local per_day = tonumber(ARGV[3])
if per_day > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= per_day then
  return -1
end
if rate > 0 then
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < 1 then
    return math.max(1, math.ceil((1 - tokens) * 1000 / rate))
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
end
if per_day > 0 then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
return 0
"""

# Gives back quota for messages that never reached the server (floored at zero).
REFUND = """
local left = redis.call('DECRBY', KEYS[1], tonumber(ARGV[1]))
if left < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
return 0
"""

DAY_KEY_TTL_SECONDS = 2 * 24 * 3600


def account_key(host: str, port: int, username: str) -> str:
    """A stable name for one SMTP account; the password never takes part."""
    digest = hashlib.sha256(f"{host.lower()}:{port}:{username.lower()}".encode()).hexdigest()
    return f"ratelimit:{digest[:20]}"


def next_window(now: datetime) -> datetime:
    """When the daily quota opens again: the next midnight UTC (naive UTC, as stored)."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


class QuotaExhausted(Exception):
    """The day's quota is used up; the rest waits for the next window."""


class RateLimiter:
    """Tokens for one SMTP account: `acquire()` blocks until sending one message is allowed."""

    def __init__(self, client: redis.Redis, key: str, *, per_second: float, per_day: int) -> None:
        self.client = client
        self.key = key
        self.per_second = max(0.0, per_second)
        self.per_day = max(0, per_day)
        # A small bucket: bursts of a tenth of a second's worth keep the measured rate honest.
        self.capacity = max(1.0, self.per_second / 10)
        self._acquire = client.register_script(ACQUIRE)
        self._refund = client.register_script(REFUND)

    def day_key(self, now: datetime | None = None) -> str:
        day = (now or datetime.now(UTC)).strftime("%Y%m%d")
        return f"{self.key}:day:{day}"

    def acquire(self, *, max_wait: float = 3600.0) -> None:
        """Wait for a token; raise QuotaExhausted when today's quota is used up."""
        deadline = time.monotonic() + max_wait
        while True:
            answer = int(
                self._acquire(
                    keys=[f"{self.key}:bucket", self.day_key()],
                    args=[self.per_second, self.capacity, self.per_day, DAY_KEY_TTL_SECONDS],
                )
            )
            if answer == 0:
                return
            if answer < 0:
                raise QuotaExhausted(f"the daily quota of {self.per_day} messages is used up")
            if time.monotonic() > deadline:
                raise TimeoutError("no sending token within the wait limit")
            time.sleep(answer / 1000)

    def paced(self, items: Iterable[T]) -> Iterator[T]:
        """Yield each item once a token is taken for it; stop when the quota is used up."""
        for item in items:
            self.acquire()
            yield item

    def refund(self, count: int) -> None:
        """Give back today's quota for messages that never reached the server."""
        if count > 0 and self.per_day:
            self._refund(keys=[self.day_key()], args=[count])

    def used_today(self) -> int:
        return int(self.client.get(self.day_key()) or 0)
