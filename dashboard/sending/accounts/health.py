"""Each account's health and budget, for the live panel and the beat probe: whether it is held
and why (its last error), what it sent today against its daily limit, and its rate."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from dashboard.extensions import db
from dashboard.mail.rate_limit import account_key
from dashboard.models import SendingAccount
from dashboard.sending.account import Account, RateBudget, default_account, rate_budget
from dashboard.sending.account_hold import (
    AccountHold,
    account_hold,
    holds_by_key,
    probe_held_account,
)
from dashboard.sending.accounts.routes import every_account

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountStatus:
    """One account as the live panel shows it (no secret: its name, server and user)."""

    name: str
    target: str
    username: str
    hold: AccountHold | None
    budget: RateBudget | None
    problem: str = ""  # its stored secret cannot be opened


def account_statuses(config: Mapping[str, Any]) -> list[AccountStatus]:
    """The default account and every sending account, each with its hold and budget."""
    return [_status(account, config) for account in every_account(config)]


def held_accounts(config: Mapping[str, Any]) -> list[AccountHold]:
    """The holds of every account whose mail waits now, the default account first: what the
    banner on every page and /readyz report. No secret is opened for it."""
    keys = [default_account(config).key]
    try:
        rows = db.session.execute(
            select(SendingAccount.host, SendingAccount.port, SendingAccount.username).order_by(
                SendingAccount.name
            )
        ).all()
    except SQLAlchemyError as error:  # /readyz reports the database on its own line
        db.session.rollback()
        log.warning("cannot list the sending accounts: %s", type(error).__name__)
        rows = []
    keys += [account_key(host, port, username) for host, port, username in rows]
    return holds_by_key(config, keys)


def _status(account: Account, config: Mapping[str, Any]) -> AccountStatus:
    return AccountStatus(
        name=account.name,
        target=account.target,
        username=account.settings.username,
        hold=account_hold(config, account),
        budget=rate_budget(config, account),
        problem=account.problem,
    )


def probe_held_accounts(config: Mapping[str, Any]) -> bool | None:
    """Try to log in to every held account, lifting the holds of those that work. None when
    nothing was held, else whether every held account works now."""
    answers = [probe_held_account(config, account) for account in every_account(config)]
    tried = [answer for answer in answers if answer is not None]
    return all(tried) if tried else None
