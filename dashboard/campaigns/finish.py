"""When a campaign held back by the account's limits will finish: at the configured rate, and
with the share of the daily quota campaigns may spend (today's use read from the shared limiter),
so a campaign larger than a day's quota says how many days it needs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from dashboard.mail.rate_limit import next_window
from dashboard.sending.account import limiter_for


@dataclass(frozen=True)
class FinishEstimate:
    """What the limits allow a campaign, and when it finishes at that pace (naive UTC)."""

    remaining: int
    per_second: float | None  # the configured rate, or the measured one without a rate limit
    per_day: int | None  # the share of the daily quota this campaign's queue may spend
    quota: int | None  # the whole daily quota
    left_today: int | None
    finishes_at: datetime | None  # None: nothing to say the pace by (no rate, none measured)
    days: int  # calendar days (UTC) after today that sending goes on into

    @property
    def waits_for_tomorrow(self) -> bool:
        return self.left_today == 0


def estimate_finish(
    remaining: int,
    config: Mapping[str, Any],
    *,
    bulk: bool,
    measured_per_second: float | None,
    now: datetime,
) -> FinishEstimate | None:
    """None when no limit is configured (the measured speed says enough then)."""
    limiter = limiter_for(config, urgent=not bulk)
    if limiter is None or remaining <= 0:
        return None
    rate = limiter.per_second or measured_per_second or None
    per_day = limiter.day_limit or None
    left_today = None
    if per_day:
        try:
            left_today = max(0, per_day - limiter.used_today())
        except redis.RedisError:
            left_today = None
    days, finishes_at = 0, None
    if per_day and left_today is not None and remaining > left_today:
        past_today = remaining - left_today
        days = math.ceil(past_today / per_day)
        last_day = past_today - (days - 1) * per_day
        start_of_last_day = next_window(now) + timedelta(days=days - 1)
        finishes_at = start_of_last_day + timedelta(seconds=last_day / rate if rate else 0)
    elif rate:
        finishes_at = now + timedelta(seconds=remaining / rate)
    return FinishEstimate(
        remaining=remaining,
        per_second=rate,
        per_day=per_day,
        quota=limiter.per_day or None,
        left_today=left_today,
        finishes_at=finishes_at,
        days=days,
    )
