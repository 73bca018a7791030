"""Access: users, API tokens, the gate in front of every request, and the security headers.

Other modules need only `public` (a view anyone may reach), `requires` (the role a view needs:
every view declares one), `accepts_api_token` (a view outside /api/ that programs call with a
bearer token) and the role names.

May import: `dashboard.mail` (header checks), `dashboard.models` and the low wiring (`config`,
`extensions`, `errors`). Never a page outside this package, the API, ops, campaigns,
reporting or sending.
"""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

from dashboard.auth.access import (
    PUBLIC_ENDPOINTS,
    accepts_api_token,
    init_access,
    public,
)
from dashboard.auth.accounts import user_for_session
from dashboard.auth.admin import people
from dashboard.auth.audit_views import audit_pages
from dashboard.auth.commands import init_commands
from dashboard.auth.hardening import init_hardening
from dashboard.auth.roles import ADMIN, SENDER, VIEWER, requires, role_allows
from dashboard.auth.settings import settings
from dashboard.auth.throttle import throttle_from_config
from dashboard.auth.views import auth
from dashboard.extensions import login
from dashboard.models import User

__all__ = [
    "ADMIN",
    "PUBLIC_ENDPOINTS",
    "SENDER",
    "VIEWER",
    "accepts_api_token",
    "init_auth",
    "public",
    "requires",
]


def init_auth(app: Flask) -> None:
    """Wire sign-in, the access gate, the auth pages, the CLI and the security headers."""
    init_hardening(app)
    login.init_app(app)
    login.login_view = "auth.login"

    @login.user_loader
    def load_user(session_id: str) -> User | None:
        return user_for_session(session_id)

    @app.context_processor
    def role_checks() -> dict[str, object]:
        def can(needed: str) -> bool:
            """Whether the signed-in person's role reaches `needed`: pages hide the rest."""
            return bool(current_user.is_authenticated and role_allows(current_user.role, needed))

        return {"can": can}

    init_access(app)
    app.extensions["login_throttle"] = throttle_from_config(app.config)
    app.register_blueprint(auth)
    app.register_blueprint(people)
    app.register_blueprint(audit_pages)
    app.register_blueprint(settings)
    init_commands(app)
