"""One gate in front of every request: nothing is reachable without signing in unless it is
marked public here or with `@public`, and nothing signed-in without the role the endpoint
declares with `@requires` (an endpoint that declares none is refused to everyone).

Pages want a signed-in session (and CSRF on every state-changing request); the API under
/api/ also takes `Authorization: Bearer <token>`, and only such token requests skip CSRF (a
browser never adds that header on its own, so a forged cross-site request cannot carry it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Request, abort, current_app, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth.roles import required_role, role_allows, role_label
from dashboard.auth.tokens import user_for_token
from dashboard.errors import api_error
from dashboard.extensions import csrf

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints anyone may reach; other modules add theirs with `@public`.
PUBLIC_ENDPOINTS = frozenset({"static", "auth.login", "auth.setup"})


def public(view: F) -> F:
    """Let anyone reach this view without signing in (health checks, one-click unsubscribe).

    Works above or below the route decorator. CSRF still applies to its POSTs unless the view
    is also `@csrf.exempt`.
    """
    view.is_public = True  # type: ignore[attr-defined]
    return view


def accepts_api_token(view: F) -> F:
    """Let a view outside /api/ be called with a bearer token too (e.g. /metrics for a
    scraper): answered like the API, 401 JSON without credentials, no CSRF with a token."""
    view.accepts_api_token = True  # type: ignore[attr-defined]
    return view


def is_api_request() -> bool:
    if request.path.startswith("/api/"):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "accepts_api_token", False))


def _is_public_endpoint() -> bool:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "is_public", False))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, so the login page cannot redirect elsewhere."""
    if not target or any(c in target for c in "\\\r\n\t\0"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _unauthorized_api(message: str, *, error: str | None = None):
    response, status = api_error(401, message)
    challenge = 'Bearer realm="api"' + (f', error="{error}"' if error else "")
    response.headers["WWW-Authenticate"] = challenge
    return response, status


def _login_redirect():
    target = request.full_path if request.method == "GET" else request.path
    login_url = url_for("auth.login", next=safe_next(target.rstrip("?")))
    if request.headers.get("HX-Request"):
        # htmx would swap the login page into a fragment; send the whole window there instead.
        return "", 401, {"HX-Redirect": login_url}
    return redirect(login_url)


def _bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header; "" for any other Authorization."""
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


class NoSessionForBearerTokens(SecureCookieSessionInterface):
    """The signed cookie session, except for an API request that carries a bearer token: the
    gate authenticates it by the token alone (and without CSRF), so its cookie is neither read
    nor written, and it pays for no session."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith("/api/") and _bearer_token(request.headers.get("Authorization")):
            return None  # Flask gives it the null session: read as empty, never saved
        return super().open_session(app, request)


def _role_refusal():
    """A 403 unless the signed-in user's role is what this endpoint declares for its method."""
    needed = required_role(current_app.view_functions.get(request.endpoint or ""), request.method)
    if needed is None:
        message = _("This endpoint declares no role, so nobody may use it.")
    elif role_allows(current_user.role, needed):
        return None
    else:
        message = _(
            "This needs the %(needed)s role; you are a %(role)s.",
            needed=role_label(needed),
            role=role_label(current_user.role),
        )
    if is_api_request():
        return api_error(403, message)
    abort(403, message)


def check_access():
    """The app-wide before_request hook."""
    # Decide afresh each request: an app context (and its g) can outlive one request, as in
    # tests, and Flask-Login caches the user in g, Flask-WTF the session's CSRF token.
    g.pop("_login_user", None)
    g.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)
    g.pop("audit_actor", None)
    if request.endpoint is None:
        return None  # no such route: let routing answer 404/405
    if request.method == "OPTIONS":
        return None
    if _is_public_endpoint():
        csrf.protect(apply_exemptions=True)
        return None
    if is_api_request():
        token = _bearer_token(request.headers.get("Authorization"))
        if token is not None:
            if not token:
                return _unauthorized_api(
                    _("Send the API token as Authorization: Bearer <token>."),
                    error="invalid_request",
                )
            user = user_for_token(token)
            if user is None:
                return _unauthorized_api(
                    _("The API token is not valid, has been revoked, or its user is disabled."),
                    error="invalid_token",
                )
            g._login_user = user  # Flask-Login's current_user for this request only
            g.authenticated_by = "token"
            g.audit_actor = (user.id, user.email)
            return _role_refusal()  # a token acts with its user's role
        if current_user.is_authenticated:
            g.authenticated_by = "session"
            g.audit_actor = (current_user.id, current_user.email)
            refusal = _role_refusal()
            if refusal is None:
                csrf.protect(apply_exemptions=True)
            return refusal
        return _unauthorized_api(
            _(
                "Sign in required: send an API token as Authorization: Bearer <token> "
                "(create one on the API tokens page or with `flask tokens create`)."
            )
        )
    if current_user.is_authenticated:
        g.authenticated_by = "session"
        g.audit_actor = (current_user.id, current_user.email)
        refusal = _role_refusal()
        if refusal is None:
            csrf.protect(apply_exemptions=True)
        return refusal
    return _login_redirect()


def init_access(app: Flask) -> None:
    # The gate calls CSRF itself, after deciding who is asking (token requests skip it).
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.session_interface = NoSessionForBearerTokens()
    app.before_request(check_access)
