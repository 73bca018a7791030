"""Bounce addresses (VERP): each message's own envelope sender, naming it with a signed token.

`bounces+<token>@BOUNCE_DOMAIN`, where the token is the message id (base 36) and the first
80 bits of an HMAC-SHA256 of it, in lower-case base 32: a bounce that comes back to that
address names its message even when its body does not, and nobody can make up the address of
someone else's message. Lower case only, because some servers lower-case local parts.
Plain functions: no Flask, no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

#: RFC 5321's limit on a local part, in octets.
MAX_LOCAL_PART = 64
_SIGNATURE_BYTES = 10  # 80 bits: 16 base-32 characters
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def verp_key(secret: str) -> bytes:
    """The signing key, derived from a secret (BOUNCE_SECRET, or the app's SECRET_KEY) so that
    the same secret never signs two kinds of thing alike."""
    return hmac.new(secret.encode(), b"dispatcher-verp-v1", hashlib.sha256).digest()


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if not number:
            return digits


def _signature(key: bytes, ident: str) -> str:
    digest = hmac.new(key, ident.encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.b32encode(digest).decode().lower()


def verp_token(message_id: int, key: bytes) -> str:
    """The token naming one message: `<id in base 36>-<signature>`."""
    if message_id < 0:
        raise ValueError("a message id is never negative")
    ident = _base36(message_id)
    return f"{ident}-{_signature(key, ident)}"


def verp_address(message_id: int, local: str, domain: str, key: bytes) -> str:
    """The envelope sender for one message, e.g. `bounces+1a2b-abcd...@bounce.example.com`."""
    local_part = f"{local}+{verp_token(message_id, key)}"
    if len(local_part) > MAX_LOCAL_PART:
        raise ValueError(f"the bounce address's local part is over {MAX_LOCAL_PART} octets")
    return f"{local_part}@{domain}"


def read_token(token: str, key: bytes) -> int | None:
    """The message id a token names, or None when it is not one this key signed."""
    ident, dash, signature = token.lower().partition("-")
    if not dash or not ident or len(ident) > 13 or any(c not in _DIGITS for c in ident):
        return None
    if not hmac.compare_digest(signature, _signature(key, ident)):
        return None
    return int(ident, 36)


def verp_pattern(local: str, domain: str) -> re.Pattern[bytes]:
    """Finds bounce addresses of this local part and domain anywhere in a message's bytes."""
    return re.compile(
        rb"(?<![\w.+-])"
        + re.escape(local.encode())
        + rb"\+([0-9a-z]{1,13}-[a-z2-7]{16})@"
        + re.escape(domain.encode())
        + rb"(?![\w-])",
        re.IGNORECASE,
    )


def message_ids_in(raw: bytes, local: str, domain: str, key: bytes) -> list[int]:
    """Every message id named by a validly signed bounce address in `raw`, in order, once."""
    found: list[int] = []
    for match in verp_pattern(local, domain).finditer(raw):
        message_id = read_token(match.group(1).decode("ascii"), key)
        if message_id is not None and message_id not in found:
            found.append(message_id)
    return found
