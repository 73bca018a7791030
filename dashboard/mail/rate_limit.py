"""A rate limit shared by every worker and process: a token bucket (per second) and a daily
counter (per day) for one SMTP account, kept in Redis and updated by one atomic Lua script.

Plain Python and Redis: no Flask, no database. The account's key is a hash of its server and
user name, never of its password.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import redis

T = TypeVar("T")

# KEYS[1]: the bucket (a hash of tokens and the time they were counted), KEYS[2]: today's count,
# KEYS[3]: the urgent senders waiting for the bucket (a sorted set: waiter -> until when).
# ARGV: tokens per second (0 = none), bucket size, messages per day (0 = none), counter TTL, how
# many tokens to take (never more than the bucket size), 1 for an urgent sender (transactional
# mail) or 0 (a campaign), the part of the day's quota only urgent senders may take, and the
# waiter's name.
# Urgent senders go first: while one waits for the bucket, campaigns take nothing, so the next
# token is the urgent sender's; and campaigns stop short of the day's quota by the reserve.
# Answers 0 (take them: go), a positive number of milliseconds to wait, -1 (the day's quota is
# used up for this sender) or -2 (it has fewer left than asked for). Redis's own clock is used,
# so workers' clocks need not agree.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local per_day = tonumber(ARGV[3])
local wanted = tonumber(ARGV[5] or '1')
local urgent = ARGV[6] == '1'
local reserve = tonumber(ARGV[7] or '0')
local waiter = ARGV[8] or ''
if per_day > 0 then
  local limit = per_day
  if not urgent then limit = per_day - reserve end
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= limit then
    return -1
  end
  if used + wanted > limit then
    return -2
  end
end
if rate > 0 then
  if not urgent then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    if redis.call('ZCARD', KEYS[3]) > 0 then
      return math.max(1, math.ceil(1000 / rate))
    end
  end
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < wanted then
    local wait = math.max(1, math.ceil((wanted - tokens) * 1000 / rate))
    if urgent then
      redis.call('ZADD', KEYS[3], now + wait + 1000, waiter)
      redis.call('PEXPIRE', KEYS[3], wait + 2000)
    end
    return wait
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - wanted), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
  if urgent then
    redis.call('ZREM', KEYS[3], waiter)
  end
end
if per_day > 0 then
  redis.call('INCRBY', KEYS[2], wanted)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
return 0
"""

# Tokens taken back (unused by a batch, or spent on messages that never reached the server):
# today's count goes down (floored at zero) and the bucket up (capped at its size). KEYS as
# ACQUIRE's; ARGV: how many, the bucket size (0 = leave the bucket), messages per day.
GIVE_BACK = """
local count = tonumber(ARGV[1])
if tonumber(ARGV[3]) > 0 then
  local left = redis.call('DECRBY', KEYS[2], count)
  if left < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or 'nil')
if tonumber(ARGV[2]) > 0 and tokens then
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[2]), tokens + count)))
end
return 0
"""

DAY_KEY_TTL_SECONDS = 2 * 24 * 3600
# Tokens a batch takes in one call when only a daily quota applies: one call a message to Redis
# cost a bulk worker more CPU than rendering and recording the message together.
TOKENS_PER_CALL = 100


def account_key(host: str, port: int, username: str) -> str:
    """A stable name for one SMTP account; the password never takes part."""
    digest = hashlib.sha256(f"{host.lower()}:{port}:{username.lower()}".encode()).hexdigest()
    return f"ratelimit:{digest[:20]}"


def next_window(now: datetime) -> datetime:
    """When the daily quota opens again: the next midnight UTC (naive UTC, as stored)."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


class QuotaExhausted(Exception):
    """The day's quota is used up; the rest waits for the next window."""


def reserved_for_urgent(per_day: int, reserve_percent: float) -> int:
    """How many of the day's messages only urgent (transactional) mail may take."""
    if per_day <= 0 or reserve_percent <= 0:
        return 0
    return min(per_day, math.ceil(per_day * reserve_percent / 100))


class RateLimiter:
    """Tokens for one SMTP account: `acquire()` blocks until sending one message is allowed.

    An `urgent` limiter (transactional mail) goes before the others: campaigns wait while it
    waits for the bucket, and cannot spend the last `reserve_percent` of the day's quota.
    """

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        per_second: float,
        per_day: int,
        urgent: bool = False,
        reserve_percent: float = 0.0,
    ) -> None:
        self.client = client
        self.key = key
        self.per_second = max(0.0, per_second)
        self.per_day = max(0, per_day)
        self.urgent = urgent
        self.reserve = reserved_for_urgent(self.per_day, reserve_percent)
        # A small bucket: bursts of a tenth of a second's worth keep the measured rate honest.
        self.capacity = max(1.0, self.per_second / 10)
        self.waiter = uuid.uuid4().hex
        self._acquire = client.register_script(ACQUIRE)
        self._give_back = client.register_script(GIVE_BACK)

    @property
    def day_limit(self) -> int:
        """The day's quota this limiter may spend (0 = none)."""
        return self.per_day if self.urgent else max(0, self.per_day - self.reserve)

    def day_key(self, now: datetime | None = None) -> str:
        day = (now or datetime.now(UTC)).strftime("%Y%m%d")
        return f"{self.key}:day:{day}"

    def acquire(
        self,
        *,
        max_wait: float = 3600.0,
        count: int = 1,
        while_waiting: Callable[[], None] | None = None,
    ) -> int:
        """Wait for `count` tokens (at most the bucket size), or for one when today's quota has
        fewer left; returns how many were taken. QuotaExhausted when today's quota is used up.
        `while_waiting` is called before each wait (a caller renews what it holds meanwhile)."""
        deadline = time.monotonic() + max_wait
        while True:
            answer = self._ask(count)
            if answer == 0:
                return count
            if answer == -2:  # the day's last few: one at a time, so none is taken for nothing
                count = 1
                continue
            if time.monotonic() > deadline:
                raise TimeoutError("no sending token within the wait limit")
            if while_waiting is not None:
                while_waiting()
            time.sleep(answer / 1000)

    def try_take(self) -> float:
        """Take one token if one is there now: 0.0, else how many seconds until one is (a pool
        asks its accounts in turn). QuotaExhausted when today's quota is used up."""
        answer = self._ask(1)  # one token: never -2, which only a larger count can get
        return answer / 1000 if answer > 0 else 0.0

    def _ask(self, count: int) -> int:
        """One run of the script: 0 (taken), -2 (fewer left today) or milliseconds to wait."""
        answer = int(
            self._acquire(
                keys=[f"{self.key}:bucket", self.day_key(), f"{self.key}:urgent"],
                args=[
                    self.per_second,
                    self.capacity,
                    self.per_day,
                    DAY_KEY_TTL_SECONDS,
                    count,
                    1 if self.urgent else 0,
                    self.reserve,
                    self.waiter,
                ],
            )
        )
        if answer == -1:
            if self.urgent or not self.reserve:
                raise QuotaExhausted(f"the daily quota of {self.per_day} messages is used up")
            raise QuotaExhausted(
                f"campaigns' share of the daily quota ({self.day_limit} of {self.per_day} "
                f"messages; {self.reserve} are kept for single emails) is used up"
            )
        return answer

    def paced(
        self,
        items: Iterable[T],
        expected: int = 1,
        while_waiting: Callable[[], None] | None = None,
    ) -> Iterator[T]:
        """Yield each item once a token is taken for it; stop when the quota is used up.

        Given `expected`, the most items that will come, tokens are taken several per call to
        Redis: up to TOKENS_PER_CALL, never more than expected, nor (with a per-second rate)
        than the bucket holds, a burst the bucket allows anyway. Tokens left when the items
        stop early (a pause, a cancel) are given back.
        """
        block = TOKENS_PER_CALL if not self.per_second else int(self.capacity)
        left, taken = max(1, expected), 0
        try:
            for item in items:
                if not taken:
                    taken = self.acquire(
                        count=max(1, min(block, left)), while_waiting=while_waiting
                    )
                taken -= 1
                left -= 1
                yield item
        finally:
            if taken:  # unreachable Redis: today's count stays a little high, never too low
                with contextlib.suppress(redis.RedisError):
                    self.give_back(taken)

    def give_back(self, count: int) -> None:
        """Return tokens taken but not used, to today's quota and to the bucket."""
        self._give_back(
            keys=[f"{self.key}:bucket", self.day_key()],
            args=[count, self.capacity if self.per_second else 0, self.per_day],
        )

    def refund(self, count: int) -> None:
        """Give back today's quota for messages that never reached the server."""
        if count > 0 and self.per_day:  # the bucket's time is spent: only the day is refunded
            self._give_back(
                keys=[f"{self.key}:bucket", self.day_key()], args=[count, 0, self.per_day]
            )

    def used_today(self) -> int:
        return int(self.client.get(self.day_key()) or 0)
