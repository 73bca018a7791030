"""The email dispatcher: a Flask dashboard and JSON API in front of Celery workers that send
over SMTP."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_babel import refresh as refresh_babel

from dashboard.api import api
from dashboard.auth import init_auth
from dashboard.auth.preferences import chosen_language, chosen_zone
from dashboard.celery_app import celery_init_app
from dashboard.cli import init_commands
from dashboard.config import INSTANCE_DIR, PROJECT_ROOT, load_settings
from dashboard.database import init_database
from dashboard.errors import init_error_pages
from dashboard.extensions import babel, csrf, db, migrate
from dashboard.ops.account_status import init_account_banner
from dashboard.ops.health import health
from dashboard.ops.metrics import init_metrics, metrics
from dashboard.web.bounce_notifications import bounce_notifications
from dashboard.web.campaigns import campaigns, old_job_pages
from dashboard.web.caught_mail import outbox
from dashboard.web.compose import compose
from dashboard.web.formatting import init_formatting
from dashboard.web.history import history
from dashboard.web.saved_templates import saved_templates
from dashboard.web.scheduled import scheduled
from dashboard.web.sending_accounts import sending_accounts
from dashboard.web.statistics import stats
from dashboard.web.suppressions import suppressions
from dashboard.web.unsubscribe import unsubscribe
from dashboard.web.webhooks import webhooks


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, overridden by `config` (tests pass one)."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(load_settings())
    if config:
        app.config.update(config)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    register_extensions(app)
    register_security(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    init_database(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(
        app,
        default_timezone=app.config["DISPLAY_TIMEZONE"] or "UTC",
        locale_selector=chosen_language,
        timezone_selector=chosen_zone,
    )
    # Flask-Babel keeps its choice on `g`; a request inside an outer app context (tests, CLI)
    # must choose again rather than inherit the last request's language.
    app.before_request(refresh_babel)
    celery_init_app(app)


def register_security(app: Flask) -> None:
    """Sign-in, API tokens, the access gate in front of every request, security headers."""
    init_auth(app)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(compose)
    app.register_blueprint(old_job_pages)
    app.register_blueprint(outbox)
    app.register_blueprint(scheduled)
    app.register_blueprint(history)
    app.register_blueprint(stats)
    app.register_blueprint(api)
    app.register_blueprint(campaigns)
    app.register_blueprint(saved_templates)
    app.register_blueprint(suppressions)
    app.register_blueprint(sending_accounts)
    app.register_blueprint(unsubscribe)
    app.register_blueprint(webhooks)
    app.register_blueprint(bounce_notifications)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    init_metrics(app)
    init_account_banner(app)
    init_formatting(app)


def register_errorhandlers(app: Flask) -> None:
    init_error_pages(app)


def register_commands(app: Flask) -> None:
    init_commands(app)
