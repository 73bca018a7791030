"""Holding an SMTP account: when its server cannot be reached or refuses the login, the account
is held (a Redis key every worker, beat and the web app read), so its mail waits instead of
spending each message's retries. A beat task tries to log in every ACCOUNT_PROBE_SECONDS and
lifts the hold when that works; the dispatcher then sends what waited.

Each account has its own hold (the default one, and every sending account of a pool): a pool
sends through its other accounts while one is held. The state lives next to the shared rate
limit (RATE_LIMIT_REDIS_URL), under the account's key, which names its server and user but
never its password. Every function takes the account (None: the default one, MAIL_*).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from dashboard.mail.sentences import english
from dashboard.mail.smtp import AccountUnavailable, try_account
from dashboard.sending.account import DEFAULT_ACCOUNT_NAME, Account, default_account
from dashboard.sending.redis_clients import redis_client
from dashboard.sending.schedule import as_stored
from dashboard.sending.stored_texts import (
    ACCOUNT_PROBLEM,
    LOGIN_REFUSED,
    NAMED_ACCOUNT_PROBLEM,
    NO_LOGIN_OFFERED,
    UNREACHABLE,
)

log = logging.getLogger(__name__)

# The pages ask on every render: a store that does not answer must not slow them down.
READ_TIMEOUT_SECONDS = 0.5
# A hold outlives its probes by far; it only expires if nothing probes it any more.
HOLD_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class AccountHold:
    """Why the account's mail waits, since when, and when it was last tried."""

    target: str  # host:port, never a credential
    login_refused: bool
    code: int | None
    reply: str
    since: str  # ISO 8601, UTC
    checked_at: str
    account: str = DEFAULT_ACCOUNT_NAME  # its name (holds stored before names had none)
    no_login: bool = False  # the server offers no AUTH to log in with (holds before: False)

    @property
    def since_time(self) -> datetime | None:
        """When the hold began, as the database keeps times (naive UTC); None if unreadable."""
        try:
            began = datetime.fromisoformat(self.since)
        except ValueError:
            return None
        return as_stored(began) if began.tzinfo else began

    @property
    def problem(self) -> str:
        if self.no_login:
            return NO_LOGIN_OFFERED
        return LOGIN_REFUSED if self.login_refused else UNREACHABLE

    def describe(self) -> str:
        """Why the account's mail waits, in English (as logs and stored replies keep it; a page
        shows it through `stored_texts.translated`)."""
        reply = f"{self.code} {self.reply}" if self.code is not None else self.reply
        if self.account == DEFAULT_ACCOUNT_NAME:
            return english(ACCOUNT_PROBLEM, target=self.target, problem=self.problem, reply=reply)
        return english(
            NAMED_ACCOUNT_PROBLEM,
            account=self.account,
            target=self.target,
            problem=self.problem,
            reply=reply,
        )


def _store(config: Mapping[str, Any]) -> redis.Redis:
    """Where holds live: beside the shared rate limit."""
    return redis_client(config["RATE_LIMIT_REDIS_URL"], READ_TIMEOUT_SECONDS)


def _account(config: Mapping[str, Any], account: Account | None) -> Account:
    return account if account is not None else default_account(config)


def _key(config: Mapping[str, Any], account: Account | None) -> str:
    return f"{_account(config, account).key}:hold"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def account_hold(config: Mapping[str, Any], account: Account | None = None) -> AccountHold | None:
    """The account's hold, or None when its mail may go (or the store cannot say)."""
    try:
        raw = _store(config).get(_key(config, account))
    except redis.RedisError as error:
        log.warning("cannot read the account's hold: %s", error)
        return None
    if not raw:
        return None
    try:
        return AccountHold(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def holds_by_key(config: Mapping[str, Any], keys: list[str]) -> list[AccountHold]:
    """The holds of the accounts whose Redis keys are `keys` (`Account.key`), in their order,
    read in one round trip; accounts that may send are left out (so is everything when the
    store cannot say)."""
    if not keys:
        return []
    try:
        raws = _store(config).mget([f"{key}:hold" for key in keys])
    except redis.RedisError as error:
        log.warning("cannot read the accounts' holds: %s", error)
        return []
    holds = []
    for raw in raws:
        if not raw:
            continue
        try:
            holds.append(AccountHold(**json.loads(raw)))
        except (TypeError, ValueError):
            continue
    return holds


def hold_account(
    config: Mapping[str, Any], problem: AccountUnavailable, account: Account | None = None
) -> AccountHold:
    """Hold the account's mail because of `problem` (keeping when the hold began)."""
    earlier = account_hold(config, account)
    now = _now()
    held = _account(config, account)
    hold = AccountHold(
        target=held.target,
        login_refused=problem.login_refused,
        code=problem.code,
        reply=problem.reply[:300],
        since=earlier.since if earlier else now,
        checked_at=now,
        account=held.name,
        no_login=problem.no_login,
    )
    try:
        _store(config).set(_key(config, account), json.dumps(asdict(hold)), ex=HOLD_TTL_SECONDS)
    except redis.RedisError as error:  # then every batch finds out for itself
        log.warning("cannot store the account's hold: %s", error)
    if earlier is None:
        log.error("holding the account's mail: %s", hold.describe())
    return hold


def release_account(config: Mapping[str, Any], account: Account | None = None) -> bool:
    """Lift the hold; True when there was one."""
    try:
        lifted = bool(_store(config).delete(_key(config, account)))
    except redis.RedisError as error:
        log.warning("cannot lift the account's hold: %s", error)
        return False
    if lifted:
        log.warning(
            "the SMTP account %s answers again: its mail goes out", _account(config, account).name
        )
    return lifted


def probe_held_account(config: Mapping[str, Any], account: Account | None = None) -> bool | None:
    """When the account is held, try to log in: lift the hold if that works. Returns None when
    nothing was held, else whether the account works now."""
    if account_hold(config, account) is None:
        return None
    try:
        try_account(_account(config, account).settings)
    except AccountUnavailable as problem:
        hold_account(config, problem, account)
        return False
    release_account(config, account)
    return True
