"""A new API token's secret, kept for the one page view that shows it.

Creating a token redirects (so a reload cannot create a second one), and the page it redirects
to shows the secret once. The secret waits in Redis for a few minutes under a random key that
only this browser's session knows; reading it deletes it. It never travels in a URL or sits in
the session cookie.
"""

from __future__ import annotations

import secrets

import redis
from flask import current_app, session

SESSION_KEY = "new_token_key"
KEEP_SECONDS = 300


def _client() -> redis.Redis:
    return redis.Redis.from_url(
        current_app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5
    )


def hand_over(secret: str) -> None:
    """Keep `secret` for this session's next look at the tokens page."""
    key = secrets.token_urlsafe(24)
    with _client() as client:
        client.set(f"token-handoff:{key}", secret, ex=KEEP_SECONDS)
    session[SESSION_KEY] = key


def take_over() -> str | None:
    """The secret handed over by this session, once: the second call finds nothing."""
    key = session.pop(SESSION_KEY, None)
    if not key:
        return None
    with _client() as client:
        value = client.getdel(f"token-handoff:{key}")
    return value.decode("utf-8") if value is not None else None
