"""Security headers on every response, cookie settings, and the refusal to run in production
with the development SECRET_KEY."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from dashboard.auth.hosts import TrustedHostGuard
from dashboard.config import DEFAULT_SECRET_KEY
from dashboard.models import MAX_DATABASE_ID

# Scripts and styles only from our own static files: htmx is vendored there and told (by a
# meta tag in base.html) not to inject its inline indicator style.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
MIN_SECRET_KEY_CHARS = 32


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` that stops at the largest id a database column holds: a longer number is a
    404, not an overflow deep in the driver. It still matches the route (as id 0, which no row
    has), so that every method of the route answers its own 404 rather than a 405."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return 0 if number > MAX_DATABASE_ID else number


class InsecureConfiguration(RuntimeError):
    """The app would run in production with settings that give its security away."""


def check_production_settings(config: dict) -> None:
    """Refuse to start in production (APP_ENV=production) with a guessable SECRET_KEY."""
    if config.get("APP_ENV") != "production":
        return
    key = str(config.get("SECRET_KEY") or "")
    if key == DEFAULT_SECRET_KEY or len(key) < MIN_SECRET_KEY_CHARS:
        raise InsecureConfiguration(
            "APP_ENV=production needs its own SECRET_KEY of at least "
            f"{MIN_SECRET_KEY_CHARS} characters (the default one would let anyone forge "
            "sessions). Generate one with: "
            'python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )


def add_security_headers(response: Response) -> Response:
    """Each security header the view did not set itself (the headers are read once: a lookup
    per name would scan them each time, on every response)."""
    present = {name.lower() for name, _value in response.headers.items()}
    wanted = list(SECURITY_HEADERS.items())
    if request.is_secure:
        wanted.append(("Strict-Transport-Security", "max-age=31536000"))
    if request.endpoint != "static":
        # Pages show job data and, once, new tokens: no shared or back-button cache keeps them.
        wanted.append(("Cache-Control", "no-store"))
    response.headers.extend([(n, v) for n, v in wanted if n.lower() not in present])
    return response


def init_hardening(app: Flask) -> None:
    check_production_settings(app.config)
    app.url_map.converters["int"] = DatabaseIdConverter  # before any blueprint adds its routes
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["SESSION_LIFETIME_HOURS"]),
        # A form is good for as long as the sign-in, not Flask-WTF's hour: an email written
        # over a longer lunch must not end on "this form has expired" (pages are no-store, so
        # Back does not bring the text back).
        WTF_CSRF_TIME_LIMIT=app.config["SESSION_LIFETIME_HOURS"] * 3600,
    )
    if app.config.get("TRUSTED_HOSTS") is not None:
        # Inside ProxyFix, so that behind a proxy the forwarded host is the one checked.
        app.wsgi_app = TrustedHostGuard(app.wsgi_app, app.config["TRUSTED_HOSTS"])
    if app.config["PROXY_COUNT"]:
        # Behind N reverse proxies: trust their X-Forwarded-For/-Proto (client IP for the
        # sign-in limit, https for secure cookies), and no more hops than that.
        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.after_request(add_security_headers)
