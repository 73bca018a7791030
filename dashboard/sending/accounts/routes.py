"""Which accounts a campaign's mail goes through: the account it names, every account of the
pool it names (in the pool's order), or the default account (MAIL_*) when it names neither."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
from sqlalchemy import Select, false, or_, select

from dashboard.extensions import db
from dashboard.mail.oauth import OAuthClient
from dashboard.mail.smtp import SmtpSettings
from dashboard.models import AccountPool, Campaign, Message, SendingAccount
from dashboard.sending.account import Account, account_limiter, default_account
from dashboard.sending.account_hold import account_hold
from dashboard.sending.accounts.secrets import NoAccountKey, SecretUnreadable, unseal

log = logging.getLogger(__name__)


def account_from_row(row: SendingAccount, config: Mapping[str, Any]) -> Account:
    """The account as the workers use it, its secrets opened (kept out of every repr)."""
    problem = ""
    try:
        secrets = unseal(config, row.secret)
    except (NoAccountKey, SecretUnreadable) as error:
        secrets, problem = {}, str(error)
    oauth = None
    if row.auth == "xoauth2":
        oauth = OAuthClient(
            client_id=row.oauth_client_id,
            client_secret=secrets.get("client_secret", ""),
            refresh_token=secrets.get("refresh_token", ""),
            token_url=row.oauth_token_url,
        )
    return Account(
        name=row.name,
        settings=SmtpSettings(
            host=row.host,
            port=row.port,
            username=row.username,
            password=secrets.get("password", ""),
            use_tls=row.tls_mode == "starttls",
            use_ssl=row.tls_mode == "tls",
            timeout=float(config["MAIL_TIMEOUT"]),
            oauth=oauth,
        ),
        per_second=row.per_second,
        per_day=row.per_day,
        from_patterns=tuple(row.from_patterns),
        id=row.id,
        problem=problem,
    )


def accounts_for(campaign: Campaign, config: Mapping[str, Any]) -> list[Account]:
    """The accounts the campaign's mail may go through, in order (one unless it names a pool)."""
    if campaign.account_id is not None:
        row = db.session.get(SendingAccount, campaign.account_id)
        if row is not None:
            return [account_from_row(row, config)]
    if campaign.pool_id is not None:
        pool = db.session.get(AccountPool, campaign.pool_id)
        if pool is not None and pool.accounts:
            return [account_from_row(row, config) for row in pool.accounts]
    return [default_account(config)]


def accounts_for_batch(message_ids: list[int], config: Mapping[str, Any]) -> list[Account]:
    """The accounts a claimed batch goes through: its campaign's (batches never mix campaigns)."""
    campaign = db.session.scalar(
        select(Campaign)
        .join(Message, Message.campaign_id == Campaign.id)
        .where(Message.id == message_ids[0])
    )
    return accounts_for(campaign, config) if campaign is not None else [default_account(config)]


def every_account(config: Mapping[str, Any]) -> list[Account]:
    """The default account, then every sending account by name."""
    rows = db.session.scalars(select(SendingAccount).order_by(SendingAccount.name))
    return [default_account(config), *(account_from_row(row, config) for row in rows)]


def is_blocked(account: Account, config: Mapping[str, Any]) -> bool:
    """Whether the account cannot send now: held, or today's quota used up."""
    if account_hold(config, account) is not None:
        return True
    limiter = account_limiter(account, config)
    if limiter is None or not limiter.per_day:
        return False
    try:
        return limiter.used_today() >= limiter.per_day
    except redis.RedisError:
        return False


def waiting_campaigns(config: Mapping[str, Any]) -> Select[tuple[int]] | None:
    """The campaigns none of whose accounts can send now (held, or out of quota): the
    dispatcher leaves their due messages where they are. None when every account can send."""
    blocked = {account.id for account in every_account(config) if is_blocked(account, config)}
    if not blocked:
        return None
    default_blocked = None in blocked
    account_ids = [account_id for account_id in blocked if account_id is not None]
    pool_ids = [
        pool.id
        for pool in db.session.scalars(select(AccountPool))
        if all(row.id in blocked for row in pool.accounts)
    ]
    return select(Campaign.id).where(
        or_(
            (Campaign.account_id.is_(None) & Campaign.pool_id.is_(None))
            if default_blocked
            else false(),
            Campaign.account_id.in_(account_ids),
            Campaign.pool_id.in_(pool_ids),
        )
    )
