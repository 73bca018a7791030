"""The first-run setup link: only someone who can read the server's console (or its
SECRET_KEY) can use the setup page, even if the dashboard is reachable from a network."""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask


def setup_token(app: Flask) -> str:
    """A token derived from SECRET_KEY; it stops working once the first user exists."""
    key = str(app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"email-dispatcher first-admin setup", hashlib.sha256).hexdigest()[:32]


def setup_token_matches(app: Flask, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(setup_token(app), str(given))
