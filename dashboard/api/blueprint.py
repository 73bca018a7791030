"""The API's blueprint, versioned under /api/v1; each module of this package adds its routes."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")
# Not CSRF-exempt as a whole: the access gate (dashboard/auth/access.py) skips CSRF only for
# requests that carry a bearer token; a browser session calling the API must send X-CSRFToken.
