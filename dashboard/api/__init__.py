"""The JSON API, versioned under /api/v1. Errors are JSON from `errors.api_error`."""

from flask import Blueprint

from ..extensions import csrf

api = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(api)  # API clients send JSON, not forms; they never carry a session cookie's authority

from . import campaigns, emails, openapi, tasks  # noqa: E402,F401  (routes register on import)
