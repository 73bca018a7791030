"""API tokens: created (shown once), listed, revoked, and checked on every API request.

Tokens are 256 random bits, so a plain SHA-256 is enough to store them: no one can guess back
from the hash, and lookups stay a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from dashboard.auth.accounts import AccountError
from dashboard.extensions import db
from dashboard.mail.headers import HeaderInjectionError, check_header_value
from dashboard.models import ApiToken, User, record_event, utcnow

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
    try:
        check_header_value(name, field="the name")
    except HeaderInjectionError as error:
        raise AccountError("name", str(error)) from None
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
    """The active user a live token belongs to, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    found = db.session.execute(_TOKEN_AND_USER, {"token_hash": hash_token(secret)}).first()
    if found is None:
        return None
    token, user = found
    if token.is_revoked or not user.is_active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return user
