"""Sealing the accounts' secrets (a password; an XOAUTH2 client secret and refresh token) with
Fernet from `cryptography`: ACCOUNT_KEYS holds one key or more, comma-separated; the first seals,
every one opens (MultiFernet), so a key is rotated by putting a new one first, running
`flask accounts rotate-key`, then dropping the old one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import SendingAccount


class NoAccountKey(RuntimeError):
    """ACCOUNT_KEYS is not set (or holds no valid key): no secret can be sealed or opened."""


class SecretUnreadable(RuntimeError):
    """A sealed secret that none of ACCOUNT_KEYS opens (the key that sealed it was dropped)."""


def account_keys(config: Mapping[str, Any]) -> list[Fernet]:
    """The Fernet keys of ACCOUNT_KEYS, the current one first."""
    keys = [key.strip() for key in str(config.get("ACCOUNT_KEYS", "")).split(",") if key.strip()]
    if not keys:
        raise NoAccountKey(
            "ACCOUNT_KEYS is not set and the instance folder cannot hold a key of its own: "
            "generate one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key())"`'
        )
    try:
        return [Fernet(key.encode()) for key in keys]
    except ValueError:
        raise NoAccountKey(
            "ACCOUNT_KEYS holds a value that is not a Fernet key (32 bytes, url-safe base64)"
        ) from None


def seal(config: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
    """The secrets as one Fernet token, sealed with the current key ("" when there are none)."""
    if not any(secrets.values()):
        return ""
    return MultiFernet(account_keys(config)).encrypt(json.dumps(dict(secrets)).encode()).decode()


def unseal(config: Mapping[str, Any], token: str) -> dict[str, str]:
    """The secrets a token holds ({} for none)."""
    if not token:
        return {}
    try:
        opened = MultiFernet(account_keys(config)).decrypt(token.encode())
    except InvalidToken:
        raise SecretUnreadable(
            "no key in ACCOUNT_KEYS opens this account's secret (was its key dropped, or was it "
            "sealed with the key of an instance folder this host does not share?)"
        ) from None
    return {str(k): str(v) for k, v in json.loads(opened).items()}


def rotate_secrets(config: Mapping[str, Any]) -> int:
    """Seal every account's secret again with the current key (the first of ACCOUNT_KEYS), so
    the older keys can be dropped; returns how many were sealed again."""
    cipher = MultiFernet(account_keys(config))
    rotated = 0
    with transaction():
        for account in db.session.scalars(
            select(SendingAccount).where(SendingAccount.secret != "")
        ):
            try:
                account.secret = cipher.rotate(account.secret.encode()).decode()
            except InvalidToken:
                raise SecretUnreadable(
                    f"no key in ACCOUNT_KEYS opens the secret of account {account.name!r}; "
                    "nothing was changed"
                ) from None
            rotated += 1
    return rotated
