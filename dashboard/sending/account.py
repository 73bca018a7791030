"""An SMTP account as the workers use it (`Account`: its settings, limits and Redis key), the
default one read from the MAIL_* and RATE_LIMIT_* settings, and each account's shared rate
limit: the limiter the tasks pace sending with, and the budget the pages show."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from dashboard.mail.rate_limit import RateLimiter, account_key
from dashboard.mail.smtp import SmtpSettings
from dashboard.sending.redis_clients import redis_client

log = logging.getLogger(__name__)


DEFAULT_ACCOUNT_NAME = "default"


@dataclass(frozen=True)
class Account:
    """One SMTP account the workers can send through: where and how (`settings`), how fast
    (0 = no limit), what it may send as (no patterns: anything), and its key in Redis (a
    hash of server and user, never of a secret) for its rate limit and its hold."""

    name: str
    settings: SmtpSettings
    per_second: float = 0.0
    per_day: int = 0
    from_patterns: tuple[str, ...] = ()
    id: int | None = None  # its row; None for the default account
    # Why it cannot be used as it is stored (its secret cannot be opened); "" when it can.
    problem: str = ""

    @property
    def key(self) -> str:
        return account_key(self.settings.host, self.settings.port, self.settings.username)

    @property
    def target(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def may_send_as(self, address: str) -> bool:
        """Whether `address` is one of the account's From addresses (exact, or @domain)."""
        return sender_allowed(self.from_patterns, address)


def sender_allowed(patterns: tuple[str, ...] | list[str], address: str) -> bool:
    """No patterns allow any address; else an exact address or `@domain` must match."""
    if not patterns:
        return True
    address = address.strip().lower()
    domain = "@" + address.rpartition("@")[2]
    return any(pattern in (address, domain) for pattern in patterns)


# The shared bucket may take its time to answer; a batch waits for it rather than overspend.
RATE_LIMIT_TIMEOUT_SECONDS = 5.0


def default_account(config: Mapping[str, Any]) -> Account:
    """The account the MAIL_* settings name, limited by RATE_LIMIT_PER_SECOND/PER_DAY."""
    return Account(
        name=DEFAULT_ACCOUNT_NAME,
        settings=smtp_settings(config),
        per_second=float(config["RATE_LIMIT_PER_SECOND"]),
        per_day=int(config["RATE_LIMIT_PER_DAY"]),
    )


def limiter_for(config: Mapping[str, Any], *, urgent: bool = False) -> RateLimiter | None:
    """The shared limiter of the default SMTP account, or None when no limit is set.
    `urgent` (transactional mail) goes before campaigns and may spend the day's reserve."""
    return account_limiter(default_account(config), config, urgent=urgent)


def account_limiter(
    account: Account, config: Mapping[str, Any], *, urgent: bool = False
) -> RateLimiter | None:
    """The shared limiter of `account` (one Redis bucket and daily counter per account, every
    worker's), or None when it has no limit."""
    if account.per_second <= 0 and account.per_day <= 0:
        return None
    return RateLimiter(
        redis_client(config["RATE_LIMIT_REDIS_URL"], RATE_LIMIT_TIMEOUT_SECONDS),
        account.key,
        per_second=account.per_second,
        per_day=account.per_day,
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


def rate_budget(config: Mapping[str, Any], account: Account | None = None) -> RateBudget | None:
    """The account's limits and today's use (the default account's unless another is given),
    for the statistics page; None when no limit is set."""
    limiter = account_limiter(account or default_account(config), config)
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
        password=config.get("MAIL_PASSWORD", ""),
        use_tls=bool(config.get("MAIL_USE_TLS", False)),
        use_ssl=bool(config.get("MAIL_USE_SSL", False)),
        timeout=float(config.get("MAIL_TIMEOUT", 30.0)),
    )
