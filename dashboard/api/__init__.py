"""The JSON API, versioned under /api/v1. Errors are JSON from `errors.api_error`."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")
# Not CSRF-exempt as a whole: the access gate (dashboard/auth/access.py) skips CSRF only for
# requests that carry a bearer token; a browser session calling the API must send X-CSRFToken.

from dashboard.api import campaigns, emails, openapi, stats, tasks  # noqa: E402,F401  (routes register on import)
