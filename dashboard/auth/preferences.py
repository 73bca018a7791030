"""Which language and time zone a page is shown in: the person's own choice (saved on their
user row, or in a cookie before they sign in), else the browser's Accept-Language, else
English; times in their own zone, else DISPLAY_TIMEZONE. Flask-Babel asks these selectors."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import has_request_context, request
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import User
from dashboard.sending.schedule import configured_zone

# The languages the dashboard speaks, in their own names (a switch reads them that way).
LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
DEFAULT_LANGUAGE = "en"
# The cookie that keeps a signed-out person's choice (the login page, unsubscribe pages).
LANGUAGE_COOKIE = "lang"


def _signed_in_user() -> User | None:
    user = current_user if has_request_context() else None
    if user is None or not user.is_authenticated:
        return None
    return user


def chosen_language() -> str:
    """The language of this request (Flask-Babel's locale selector); outside a request (the
    CLI), the shell's own, as gettext reads it: LANGUAGE, LC_ALL, LC_MESSAGES, LANG."""
    if not has_request_context():
        return _shell_language()
    # A program's own Accept-Language first, else its token owner's setting; a person's
    # pages: their setting, else the cookie of their choice signed out, else the browser's.
    api = request.path.startswith("/api/")
    if api and request.accept_languages:
        return request.accept_languages.best_match(list(LANGUAGES), DEFAULT_LANGUAGE)
    user = _signed_in_user()
    if user is not None and user.language in LANGUAGES:
        return user.language
    if api:
        return DEFAULT_LANGUAGE
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    return request.accept_languages.best_match(list(LANGUAGES), DEFAULT_LANGUAGE)


def _shell_language() -> str:
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            code = value.split(":")[0].split("_")[0].split(".")[0].lower()
            return code if code in LANGUAGES else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def chosen_zone() -> ZoneInfo:
    """The zone times are shown and typed in (Flask-Babel's time zone selector)."""
    user = _signed_in_user()
    if user is not None and user.timezone and zone_exists(user.timezone):
        return ZoneInfo(user.timezone)
    return configured_zone()


def zone_names() -> list[str]:
    """Every IANA zone name a person may choose, sorted (Asia/Ho_Chi_Minh among them)."""
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


def save_preferences(user: User, *, language: str | None, zone: str | None) -> None:
    """Keep a person's language and zone; None (or "") means "as the browser / the dashboard"."""
    if language and language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    if zone and not zone_exists(zone):
        raise ValueError(f"unknown time zone {zone!r}")
    user.language = language or None
    user.timezone = zone or None
    db.session.commit()
