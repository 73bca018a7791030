"""Sending a batch through its campaign's accounts. One account: paced by its shared limit, as
it always was. A pool: each message goes through the next account that has a token for it now
(each account's own Redis bucket and daily counter), so the pool sends at the sum of its
accounts' rates; an account that cannot be reached or refuses the login is held and the pool
goes on without it, and one whose quota is spent is passed over. A message whose account failed
to connect was not sent, so it goes through another: none is lost, none sent twice."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import redis

from dashboard.mail.rate_limit import QuotaExhausted, RateLimiter, next_window
from dashboard.mail.smtp import AccountUnavailable, DeliveryResult, Envelope, Outcome, deliver_batch
from dashboard.sending.account import Account, account_limiter
from dashboard.sending.account_hold import AccountHold, account_hold, hold_account

log = logging.getLogger(__name__)

# What a batch lets through of the envelopes it hands over (see `deliver_through`).
Admit = Callable[[Iterable[Envelope]], Iterable[Envelope]]

# The longest a pool waits between asking its accounts for a token again.
MAX_POOL_WAIT_SECONDS = 1.0


class AccountsWaiting(Exception):
    """No account of the batch's route can send now: held (unreachable, login refused) or out
    of today's quota. The unsent messages wait until `until`."""

    def __init__(self, holds: list[AccountHold], exhausted: list[str]) -> None:
        super().__init__(holds, exhausted)
        self.holds, self.exhausted = holds, exhausted

    def until(self, now: datetime) -> datetime:
        # A held account may be lifted by the next probe; a spent quota opens at midnight.
        return now if self.holds else next_window(now)

    def describe(self) -> str:
        parts = [hold.describe() for hold in self.holds]
        if self.exhausted:
            parts.append("today's quota is used up for " + ", ".join(self.exhausted))
        return "; ".join(parts)


def route_waiting(accounts: list[Account], config: Mapping[str, Any]) -> AccountsWaiting | None:
    """Before claiming work for them: AccountsWaiting when every account is held."""
    holds = [account_hold(config, account) for account in accounts]
    if all(hold is not None for hold in holds):
        return AccountsWaiting([hold for hold in holds if hold is not None], [])
    return None


def deliver_through(
    accounts: list[Account],
    envelopes: Iterable[Envelope],
    config: Mapping[str, Any],
    *,
    urgent: bool,
    expected: int,
    while_waiting: Callable[[], None] | None = None,
    while_answering: Callable[[], None] | None = None,
    admit: Admit | None = None,
) -> Iterator[DeliveryResult]:
    """Send `envelopes` through `accounts`, yielding a result per message sent or tried.
    Raises AccountsWaiting (the accounts are held, and the ones they hold now are stored) or,
    for one account, QuotaExhausted; the messages not yet yielded have no result then. Quota
    spent on messages that never reached a server is given back to its account.

    `while_waiting` is called while a rate limit makes the batch wait (it renews its lease);
    `while_answering` while a server answers a message (the batch renders the next one then);
    `admit` filters the envelopes as late as possible, once their token is taken (the batch
    drops those whose row it no longer holds, and stops once it cannot record)."""
    admit = admit or (lambda paced: paced)
    if len(accounts) == 1:
        yield from _through_one(
            accounts[0], envelopes, config, urgent=urgent, expected=expected,
            while_waiting=while_waiting, while_answering=while_answering, admit=admit,
        )  # fmt: skip
    else:
        yield from _through_pool(
            accounts, admit(envelopes), config, urgent=urgent, while_waiting=while_waiting,
            while_answering=while_answering,
        )  # fmt: skip


def _unreached(result: DeliveryResult) -> bool:
    return result.outcome is Outcome.TRANSIENT and result.code is None


def _refund(limiter: RateLimiter | None, count: int) -> None:
    if limiter is not None and count:
        try:
            limiter.refund(count)
        except redis.RedisError as error:
            log.warning("could not refund %d quota: %s", count, error)


def _through_one(
    account: Account,
    envelopes: Iterable[Envelope],
    config: Mapping[str, Any],
    *,
    urgent: bool,
    expected: int,
    while_waiting: Callable[[], None] | None,
    while_answering: Callable[[], None] | None,
    admit: Admit,
) -> Iterator[DeliveryResult]:
    if account.problem:
        problem = AccountUnavailable(None, account.problem, login_refused=True)
        raise AccountsWaiting([hold_account(config, problem, account)], [])
    limiter = account_limiter(account, config, urgent=urgent)
    paced = (
        limiter.paced(envelopes, expected=expected, while_waiting=while_waiting)
        if limiter
        else envelopes
    )
    unreached = 0
    try:
        for result in deliver_batch(
            admit(paced), account.settings, while_answering=while_answering
        ):
            unreached += _unreached(result)
            yield result
    except AccountUnavailable as problem:
        raise AccountsWaiting([hold_account(config, problem, account)], []) from None
    finally:
        _refund(limiter, unreached)


class _Lane:
    """One account of a pool: its limiter and, once used, its open SMTP session (a
    `deliver_batch` fed one envelope at a time, without lookahead: each result is needed before
    the pool hands over the next envelope)."""

    def __init__(
        self,
        account: Account,
        limiter: RateLimiter | None,
        while_answering: Callable[[], None] | None = None,
    ) -> None:
        self.account = account
        self.limiter = limiter
        self.while_answering = while_answering
        self.inbox: deque[Envelope] = deque()
        self.session: Iterator[DeliveryResult] | None = None

    def _drain(self) -> Iterator[Envelope]:
        while self.inbox:
            yield self.inbox.popleft()

    def send(self, envelope: Envelope) -> DeliveryResult:
        """Send one message over this account's session (opened on first use)."""
        self.inbox.append(envelope)
        if self.session is None:
            self.session = deliver_batch(
                self._drain(),
                self.account.settings,
                lookahead=False,
                while_answering=self.while_answering,
            )
        try:
            return next(self.session)
        except AccountUnavailable:
            self.inbox.clear()
            self.session = None
            raise

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                self.session.close()  # type: ignore[attr-defined]
            self.session = None


def _through_pool(
    accounts: list[Account],
    envelopes: Iterable[Envelope],
    config: Mapping[str, Any],
    *,
    urgent: bool,
    while_waiting: Callable[[], None] | None = None,
    while_answering: Callable[[], None] | None = None,
) -> Iterator[DeliveryResult]:
    holds: list[AccountHold] = []
    exhausted: list[str] = []
    lanes: list[_Lane] = []
    for account in accounts:
        hold = account_hold(config, account)
        if hold is not None:
            holds.append(hold)
        elif account.problem:
            problem = AccountUnavailable(None, account.problem, login_refused=True)
            holds.append(hold_account(config, problem, account))
        else:
            limiter = account_limiter(account, config, urgent=urgent)
            lanes.append(_Lane(account, limiter, while_answering))
    # Batches start at different accounts, so one account is not every batch's first choice.
    turn = random.randrange(len(lanes)) if lanes else 0
    try:
        for envelope in envelopes:
            while True:
                if not lanes:
                    raise AccountsWaiting(holds, exhausted)
                lane, wait = _next_lane(lanes, turn, exhausted)
                if lane is None:
                    if while_waiting is not None:
                        while_waiting()
                    time.sleep(min(wait, MAX_POOL_WAIT_SECONDS))
                    continue
                turn = lanes.index(lane) + 1
                try:
                    result = lane.send(envelope)
                except AccountUnavailable as problem:
                    # Not sent: it goes through another account; this one is held.
                    lanes.remove(lane)
                    lane.close()
                    holds.append(hold_account(config, problem, lane.account))
                    _refund(lane.limiter, 1)
                    log.warning("pool: %s; going on without it", holds[-1].describe())
                    continue
                if _unreached(result):
                    _refund(lane.limiter, 1)
                yield result
                break
    finally:
        for lane in lanes:
            lane.close()


def _next_lane(lanes: list[_Lane], turn: int, exhausted: list[str]) -> tuple[_Lane | None, float]:
    """The first lane from `turn` on that has a token now, or None and the shortest wait.
    Lanes whose quota is spent leave `lanes` (their names go to `exhausted`)."""
    wait = MAX_POOL_WAIT_SECONDS
    for offset in range(len(lanes)):
        lane = lanes[(turn + offset) % len(lanes)]
        if lane.limiter is None:
            return lane, 0.0
        try:
            needed = lane.limiter.try_take()
        except QuotaExhausted:
            lanes.remove(lane)
            lane.close()
            exhausted.append(lane.account.name)
            return None, 0.0  # ask again, without it
        if needed == 0:
            return lane, 0.0
        wait = min(wait, needed)
    return None, wait
