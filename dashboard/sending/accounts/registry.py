"""Adding, changing and removing sending accounts and pools: the one service the dashboard's
form, the API and the CLI call. Every problem is reported at once, by field (`AccountProblems`);
secrets are sealed before they reach the row and never come back out of here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import AccountPool, Campaign, PoolMember, SendingAccount, record_event
from dashboard.sending.account import sender_allowed
from dashboard.sending.accounts.schemas import NAME, AccountIn, AccountOut, PoolIn, PoolOut
from dashboard.sending.accounts.secrets import NoAccountKey, SecretUnreadable, seal, unseal
from dashboard.sending.field_errors import field_errors

M = TypeVar("M", bound=BaseModel)

# A valid value for each field, put in place of a refused one so that the other fields can still
# be checked against the stored accounts and pools (a taken name, what XOAUTH2 needs).
_ACCOUNT_STAND_INS: dict[str, Any] = {
    "name": "stand-in",
    "host": "localhost",
    "port": 25,
    "tls_mode": "starttls",
    "username": "",
    "auth": "password",
    "password": None,
    "oauth_client_id": "",
    "oauth_client_secret": None,
    "oauth_refresh_token": None,
    "oauth_token_url": "https://stand-in.invalid/token",
    "from_allowed": [],
    "per_second": 0,
    "per_day": 0,
}
_POOL_STAND_INS: dict[str, Any] = {"name": "stand-in", "accounts": ["stand-in"]}


class AccountProblems(ValueError):
    """What is wrong with a submitted account or pool, by field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


def _validated(
    model: type[M],
    raw: object,
    stand_ins: Mapping[str, Any],
    problems_of: Callable[[M], dict[str, str]],
) -> M:
    """`raw` as `model`, or AccountProblems naming every field's problem at once: the shape's,
    and what `problems_of` finds in the fields the shape let through (each refused field
    replaced by its stand-in, so that, say, a taken name is said beside a bad host)."""
    try:
        return model.model_validate(raw)
    except ValidationError as invalid:
        problems = field_errors(invalid)
        refused = {str(item["loc"][0]) for item in invalid.errors() if item["loc"]}
    if not isinstance(raw, Mapping) or not refused:
        raise AccountProblems(problems)
    values = {name: value for name, value in raw.items() if name not in refused}
    values |= {name: stand_ins[name] for name in refused if name in stand_ins}
    try:
        found = problems_of(model.model_validate(values))
    except ValidationError:  # refused in a way no stand-in mends: the shape's problems alone
        found = {}
    raise AccountProblems({**{k: v for k, v in found.items() if k not in refused}, **problems})


def list_accounts() -> list[SendingAccount]:
    return list(db.session.scalars(select(SendingAccount).order_by(SendingAccount.name)))


def list_pools() -> list[AccountPool]:
    return list(db.session.scalars(select(AccountPool).order_by(AccountPool.name)))


def find_account(account_id: int) -> SendingAccount | None:
    return db.session.get(SendingAccount, account_id)


def find_pool(pool_id: int) -> AccountPool | None:
    return db.session.get(AccountPool, pool_id)


def account_out(account: SendingAccount) -> AccountOut:
    return AccountOut(
        id=account.id,
        name=account.name,
        host=account.host,
        port=account.port,
        tls_mode=account.tls_mode,
        username=account.username,
        auth=account.auth,
        oauth_client_id=account.oauth_client_id,
        oauth_token_url=account.oauth_token_url,
        has_secret=bool(account.secret),
        from_allowed=account.from_patterns,
        per_second=account.per_second,
        per_day=account.per_day,
    )


def pool_out(pool: AccountPool) -> PoolOut:
    return PoolOut(id=pool.id, name=pool.name, accounts=[a.name for a in pool.accounts])


def _name_taken(name: str, *, account_id: int | None = None, pool_id: int | None = None) -> bool:
    """Accounts and pools share one set of names: a campaign names either."""
    lowered = name.lower()
    for model, own in ((SendingAccount, account_id), (AccountPool, pool_id)):
        query = select(model.id).where(db.func.lower(model.name) == lowered)
        if own is not None:
            query = query.where(model.id != own)
        if db.session.scalar(query) is not None:
            return True
    return False


def _secrets(
    config: Mapping[str, Any], data: AccountIn, existing: SendingAccount | None
) -> dict[str, str]:
    """The secrets the account keeps: what was given, else what it had (when the way it logs
    in did not change)."""
    kept: dict[str, str] = {}
    if existing is not None and existing.secret and existing.auth == data.auth:
        kept = unseal(config, existing.secret)
    if data.auth == "password":
        return {
            "password": data.password if data.password is not None else kept.get("password", "")
        }
    return {
        "client_secret": data.oauth_client_secret
        if data.oauth_client_secret is not None
        else kept.get("client_secret", ""),
        "refresh_token": data.oauth_refresh_token
        if data.oauth_refresh_token is not None
        else kept.get("refresh_token", ""),
    }


def save_account(
    config: Mapping[str, Any], raw: object, existing: SendingAccount | None = None
) -> SendingAccount:
    """Add an account (or change `existing`) from the values given (`AccountIn`'s fields), its
    secrets sealed; AccountProblems says every field's problem at once."""
    data = _validated(
        AccountIn, raw, _ACCOUNT_STAND_INS, lambda d: _account_problems(config, d, existing)[0]
    )
    problems, secrets = _account_problems(config, data, existing)
    sealed = ""
    if not problems:
        try:
            sealed = seal(config, secrets)
        except NoAccountKey as error:
            problems["password" if data.auth == "password" else "oauth_refresh_token"] = str(error)
    if problems:
        raise AccountProblems(problems)
    account = existing or SendingAccount()
    account.name = data.name
    account.host = data.host
    account.port = data.port
    account.tls_mode = data.tls_mode
    account.username = data.username
    account.auth = data.auth
    account.oauth_client_id = data.oauth_client_id if data.auth == "xoauth2" else ""
    account.oauth_token_url = data.oauth_token_url if data.auth == "xoauth2" else ""
    account.secret = sealed
    account.from_allowed = "\n".join(data.from_allowed)
    account.per_second = data.per_second
    account.per_day = data.per_day
    with transaction():
        db.session.add(account)
        db.session.flush()
        record_event(
            "account-changed" if existing else "account-added",
            f"sending account {account.name}",
            f"{account.host}:{account.port} ({account.auth})",
        )
    return account


def _account_problems(
    config: Mapping[str, Any], data: AccountIn, existing: SendingAccount | None
) -> tuple[dict[str, str], dict[str, str]]:
    """What is wrong with a well-formed account beside the stored ones (a taken name, what its
    way of logging in needs), by field; and the secrets it would keep."""
    problems: dict[str, str] = {}
    if _name_taken(data.name, account_id=existing.id if existing else None):
        problems["name"] = _("an account or a pool already has this name")
    secrets: dict[str, str] = {}
    try:
        secrets = _secrets(config, data, existing)
    except (NoAccountKey, SecretUnreadable) as error:
        problems["password" if data.auth == "password" else "oauth_refresh_token"] = str(error)
    if data.auth == "xoauth2":
        if not data.username:
            problems["username"] = _("XOAUTH2 logs in as a user: give the account's address")
        if not data.oauth_client_id:
            problems["oauth_client_id"] = _("XOAUTH2 needs the OAuth client's id")
        if not secrets.get("client_secret") and "oauth_refresh_token" not in problems:
            problems["oauth_client_secret"] = _("XOAUTH2 needs the OAuth client's secret")
        if not secrets.get("refresh_token") and "oauth_refresh_token" not in problems:
            problems["oauth_refresh_token"] = _("XOAUTH2 needs a refresh token")
    elif secrets.get("password") and not data.username:
        problems["username"] = _("a password needs a user name")
    elif data.username and not secrets.get("password") and "password" not in problems:
        # Never useful (a server without a login takes no user name), and what a page shown
        # again after a problem leaves behind: its password field is empty, on purpose.
        problems["password"] = _("a user name needs its password")
    return problems, secrets


def _in_use(*, account_id: int | None = None, pool_id: int | None = None) -> str | None:
    if account_id is not None:
        pool = db.session.scalar(
            select(AccountPool.name)
            .join(PoolMember, PoolMember.pool_id == AccountPool.id)
            .where(PoolMember.account_id == account_id)
            .limit(1)
        )
        if pool:
            return _("the pool %(pool)s sends through it: take it out of the pool first", pool=pool)
    column = Campaign.account_id if account_id is not None else Campaign.pool_id
    campaign = db.session.scalar(
        select(Campaign.id).where(column == (account_id or pool_id)).limit(1)
    )
    if campaign is not None:
        return _("campaign %(id)s was sent through it; it stays for their history", id=campaign)
    return None


def delete_account(account: SendingAccount) -> None:
    """Remove an account no pool and no campaign names (AccountProblems otherwise)."""
    reason = _in_use(account_id=account.id)
    if reason:
        raise AccountProblems({"account": reason})
    with transaction():
        record_event("account-removed", f"sending account {account.name}", "")
        db.session.delete(account)


def save_pool(raw: object, existing: AccountPool | None = None) -> AccountPool:
    """Add a pool (or change `existing`) from the values given (`PoolIn`'s fields): the named
    accounts, in the order given; AccountProblems says every field's problem at once."""
    data = _validated(PoolIn, raw, _POOL_STAND_INS, lambda d: _pool_problems(d, existing)[0])
    problems, found = _pool_problems(data, existing)
    if problems:
        raise AccountProblems(problems)
    names = list(found)
    pool = existing or AccountPool()
    pool.name = data.name
    pool.members = [
        PoolMember(account=found[name], position=position) for position, name in enumerate(names)
    ]
    with transaction():
        db.session.add(pool)
        db.session.flush()
        record_event(
            "pool-changed" if existing else "pool-added",
            f"account pool {pool.name}",
            ", ".join(names),
        )
    return pool


def _pool_problems(
    data: PoolIn, existing: AccountPool | None
) -> tuple[dict[str, str], dict[str, SendingAccount]]:
    """What is wrong with a well-formed pool beside the stored accounts and pools, by field; and
    its accounts by name, in the order given."""
    problems: dict[str, str] = {}
    if _name_taken(data.name, pool_id=existing.id if existing else None):
        problems["name"] = _("an account or a pool already has this name")
    names = list(dict.fromkeys(name.strip() for name in data.accounts if name.strip()))
    # Only what could be an account's name is looked up (a NUL, say, is refused by PostgreSQL).
    possible = [name for name in names if NAME.match(name)]
    stored = {
        a.name: a
        for a in db.session.scalars(select(SendingAccount).where(SendingAccount.name.in_(possible)))
    }
    unknown = [name for name in names if name not in stored]
    if unknown:
        problems["accounts"] = _("no account is called %(names)s", names=", ".join(unknown))
    elif not names:
        problems["accounts"] = _("a pool needs at least one account")
    return problems, {name: stored[name] for name in names if name in stored}


def delete_pool(pool: AccountPool) -> None:
    reason = _in_use(pool_id=pool.id)
    if reason:
        raise AccountProblems({"pool": reason})
    with transaction():
        record_event("pool-removed", f"account pool {pool.name}", "")
        db.session.delete(pool)


def resolve_route(name: str | None, from_address: str) -> tuple[int | None, int | None]:
    """The (account id, pool id) a submission names by `name` (None or "": the default
    account), checking that the account, or every account of the pool, may send as
    `from_address`. AccountProblems({"account": ...}) otherwise."""
    if not name or not name.strip():
        return None, None
    name = name.strip()
    account = db.session.scalar(select(SendingAccount).where(SendingAccount.name == name))
    if account is not None:
        if not sender_allowed(account.from_patterns, from_address):
            raise AccountProblems(
                {
                    "account": _(
                        "the account %(name)s may not send as %(sender)s",
                        name=name,
                        sender=from_address,
                    )
                }
            )
        return account.id, None
    pool = db.session.scalar(select(AccountPool).where(AccountPool.name == name))
    if pool is None:
        raise AccountProblems(
            {"account": _("no sending account or pool is called %(name)s", name=name)}
        )
    refusing = [a.name for a in pool.accounts if not sender_allowed(a.from_patterns, from_address)]
    if refusing:
        raise AccountProblems(
            {
                "account": _(
                    "in the pool %(name)s, %(accounts)s may not send as %(sender)s",
                    name=name,
                    accounts=", ".join(refusing),
                    sender=from_address,
                )
            }
        )
    return None, pool.id
