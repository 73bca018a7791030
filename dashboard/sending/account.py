"""The configured rate limit of the SMTP account: the limiter the tasks pace sending with, and
the budget the statistics page shows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis

from dashboard.mail.rate_limit import RateLimiter, account_key
from dashboard.mail.smtp import SmtpSettings

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def limiter_for(config: Mapping[str, Any], *, urgent: bool = False) -> RateLimiter | None:
    """The shared limiter of the configured SMTP account, or None when no limit is set.
    `urgent` (transactional mail) goes before campaigns and may spend the day's reserve."""
    per_second = float(config["RATE_LIMIT_PER_SECOND"])
    per_day = int(config["RATE_LIMIT_PER_DAY"])
    if per_second <= 0 and per_day <= 0:
        return None
    key = account_key(config["MAIL_SERVER"], int(config["MAIL_PORT"]), config["MAIL_USERNAME"])
    return RateLimiter(
        _redis(config["RATE_LIMIT_REDIS_URL"]),
        key,
        per_second=per_second,
        per_day=per_day,
        urgent=urgent,
        reserve_percent=float(config.get("RATE_LIMIT_TRANSACTIONAL_RESERVE_PERCENT", 10.0)),
    )


@dataclass(frozen=True)
class RateBudget:
    """What the limit allows and how much of today's quota is used (None: not known now)."""

    per_second: float | None
    per_day: int | None
    used_today: int | None
    left_today: int | None


def rate_budget(config: Mapping[str, Any]) -> RateBudget | None:
    """The account's limits and today's use, for the statistics page; None when no limit is set."""
    limiter = limiter_for(config)
    if limiter is None:
        return None
    used: int | None = None
    try:
        used = limiter.used_today()
    except redis.RedisError as error:
        log.warning("rate limit store unreachable: %s", error)
    per_day = limiter.per_day or None
    return RateBudget(
        per_second=limiter.per_second or None,
        per_day=per_day,
        used_today=used,
        left_today=max(0, per_day - used) if per_day is not None and used is not None else None,
    )


def smtp_settings(config: Mapping[str, Any]) -> SmtpSettings:
    """The SMTP account the workers send through, from the MAIL_* settings."""
    return SmtpSettings(
        host=config["MAIL_SERVER"],
        port=int(config["MAIL_PORT"]),
        username=config["MAIL_USERNAME"],
        password=config["MAIL_PASSWORD"],
        use_tls=bool(config["MAIL_USE_TLS"]),
        use_ssl=bool(config["MAIL_USE_SSL"]),
        timeout=float(config["MAIL_TIMEOUT"]),
    )
