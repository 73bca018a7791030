"""XOAUTH2 for SMTP (Gmail, Microsoft 365): an access token from a refresh token, obtained from
the provider's token endpoint (RFC 6749 section 6) and kept until shortly before it expires.

Plain Python (urllib): no Flask, no database. Neither the refresh token nor the access token
is ever logged or put into an error's text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
# A token is renewed this long before the endpoint says it expires.
EXPIRY_MARGIN_SECONDS = 60
TOKEN_TIMEOUT_SECONDS = 10

_cache: dict[str, tuple[str, float]] = {}
_cache_lock = threading.Lock()


class TokenRefused(Exception):
    """The token endpoint refused the refresh token or the client (`refused`), or could not be
    reached (not `refused`). The text names the endpoint's error code, never a secret."""

    def __init__(self, reply: str, *, refused: bool) -> None:
        super().__init__(reply)
        self.refused = refused


@dataclass(frozen=True)
class OAuthClient:
    """What an admin pastes: the OAuth client and the refresh token it issued."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_url: str = GOOGLE_TOKEN_URL

    def _cache_key(self) -> str:
        material = f"{self.token_url}\0{self.client_id}\0{self.refresh_token}".encode()
        return hashlib.sha256(material).hexdigest()

    def access_token(self) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        key = self._cache_key()
        with _cache_lock:
            cached = _cache.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        token, lifetime = self._refresh()
        with _cache_lock:
            _cache[key] = (token, time.monotonic() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS))
        return token

    def forget(self) -> None:
        """Drop the cached token (the server refused it: the next login asks for a new one)."""
        with _cache_lock:
            _cache.pop(self._cache_key(), None)

    def _refresh(self) -> tuple[str, float]:
        body = urllib.parse.urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            }
        ).encode()
        request = urllib.request.Request(
            self.token_url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT_SECONDS) as response:
                answer = json.loads(response.read(65536) or b"{}")
        except urllib.error.HTTPError as error:
            code = _error_code(error)
            # 400/401 is the provider's "no" (invalid_grant, invalid_client); 5xx is its outage.
            raise TokenRefused(
                f"the token endpoint answered {error.code} {code}".strip(),
                refused=400 <= error.code < 500,
            ) from None
        except (OSError, ValueError) as error:
            raise TokenRefused(
                f"the token endpoint cannot be reached ({type(error).__name__})", refused=False
            ) from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenRefused("the token endpoint gave no access_token", refused=True)
        try:
            lifetime = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return token, lifetime


def _error_code(error: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(error.read(4096) or b"{}")
    except (OSError, ValueError):
        return ""
    code = answer.get("error") if isinstance(answer, dict) else None
    return str(code)[:60] if isinstance(code, str) else ""


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (smtplib encodes it)."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


def xoauth2_base64(username: str, access_token: str) -> str:
    return base64.b64encode(xoauth2_string(username, access_token).encode()).decode("ascii")
