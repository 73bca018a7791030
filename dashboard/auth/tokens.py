"""API tokens: created (shown once), listed, revoked, and checked on every API request.

Tokens are 256 random bits, so a plain SHA-256 is enough to store them: no one can guess back
from the hash, and lookups stay a single indexed query.

Each process remembers a live token's user for API_TOKEN_CACHE_SECONDS (default 5), so a client
posting many emails does not pay that query on every request. A revoked token, a disabled user
or a changed role takes effect at once in the process that made the change (any ORM change to a
user or a token empties the memory) and in the others within those seconds; 0 turns it off.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, event, inspect, select, update

from dashboard.auth.accounts import AccountError
from dashboard.database import detached_row
from dashboard.extensions import db
from dashboard.models import ApiToken, User, record_event, utcnow
from dashboard.sending.requests import one_line_problem

TOKEN_PREFIX = "edt_"
MAX_NAME_CHARS = 100
# Writing last_used_at on every call would make each API read a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# The token and its user in one query (`token.user` then comes from the session), built once:
# every API request asks it.
_TOKEN_AND_USER = (
    select(ApiToken, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


_TOUCH_TOKEN = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)
_USER_COLUMNS = [attribute.key for attribute in inspect(User).column_attrs]


@dataclass(frozen=True)
class _Known:
    """A live token as this process last read it: its user's columns, until `expires`."""

    expires: float  # time.monotonic()
    token_id: int
    last_used_at: datetime | None
    user: dict[str, Any]


# Token hash -> what was read. Plain dict operations are atomic across gunicorn's threads.
_known: dict[str, _Known] = {}


def forget_known_tokens(*_args: object) -> None:
    """Empty this process's memory of tokens: the next request of each reads its row again."""
    _known.clear()


# Revoking, disabling, a new role (any ORM write to a user or a token): forgotten at once here.
for _model in (User, ApiToken):
    for _change in ("after_update", "after_delete"):
        event.listen(_model, _change, forget_known_tokens)


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is the only copy and is shown once."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user: User, name: str) -> NewToken:
    """A new token for `user`, named so they can tell it apart later."""
    name = (name or "").strip()
    if not name:
        raise AccountError("name", _("give the token a name, e.g. the program that will use it"))
    if problem := one_line_problem(name, _("the name")):
        raise AccountError("name", problem)
    if len(name) > MAX_NAME_CHARS:
        raise AccountError(
            "name", _("the name may be at most %(count)s characters long", count=MAX_NAME_CHARS)
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=hash_token(secret), prefix=secret[:10])
    db.session.add(token)
    db.session.flush()
    record_event("token-created", f"token {token.id}", f"{name!r} for {user.email}")
    db.session.commit()
    return NewToken(token, secret)


def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_event("token-revoked", f"token {token.id}", f"{token.name!r} of {token.user.email}")
        db.session.commit()
    return token


def tokens_of(user: User | None) -> list[ApiToken]:
    """Every token (user None, for admins and the CLI) or one user's."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(query))


def user_for_token(secret: str) -> User | None:
    """The active user a live token belongs to, or None (see the module's note on memory)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token_hash = hash_token(secret)
    known = _known.get(token_hash)
    if known is not None and known.expires > time.monotonic():
        return _remembered_user(token_hash, known)
    found = db.session.execute(_TOKEN_AND_USER, {"token_hash": token_hash}).first()
    if found is None:
        _known.pop(token_hash, None)
        return None
    token, user = found
    if token.is_revoked or not user.is_active:
        _known.pop(token_hash, None)
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()  # empties the memory (a token changed): refilled just below
    seconds = float(current_app.config.get("API_TOKEN_CACHE_SECONDS", 0))
    if seconds > 0:
        _known[token_hash] = _Known(
            expires=time.monotonic() + seconds,
            token_id=token.id,
            last_used_at=token.last_used_at,
            user={key: getattr(user, key) for key in _USER_COLUMNS},
        )
    return user


def _remembered_user(token_hash: str, known: _Known) -> User:
    """The remembered user as an object of this request's session, without a query (what is
    not a column, such as their tokens, loads if asked for)."""
    now = utcnow()
    if known.last_used_at is None or now - known.last_used_at > LAST_USED_RESOLUTION:
        db.session.execute(_TOUCH_TOKEN, {"token_id": known.token_id, "now": now})
        db.session.commit()
        _known[token_hash] = _Known(known.expires, known.token_id, now, known.user)
    return detached_row(User, known.user)
