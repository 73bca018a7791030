"""Errors: JSON from one helper under /api/, friendly pages everywhere else. Never a bare 500."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dashboard.extensions import db

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal_error",
}


def api_error(
    status: int, message: str, *, fields: dict[str, str] | None = None, code: str | None = None
) -> tuple[Response, int]:
    """The API's one error shape: `{"error": {"code", "message", "fields"}}`."""
    body = {
        "error": {
            "code": code or _CODES.get(status, "error"),
            "message": message,
            "fields": fields or {},
        }
    }
    return jsonify(body), status


def invalid_fields(summary: str, fields: dict[str, str]) -> tuple[Response, int]:
    """The API's 422 naming every field's problem: `summary`, then each `field: problem`."""
    problems = "; ".join(f"{name}: {message}" for name, message in fields.items())
    return api_error(422, f"{summary}: {problems}" if summary else problems, fields=fields)


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def _too_large_message() -> str:
    from flask import current_app

    limit_mb = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    body_mb = current_app.config["MAX_BODY_BYTES"] // (1024 * 1024)
    return _(
        "The request is too large: a body may be at most %(body)s MB and a whole "
        "request at most %(limit)s MB.",
        body=body_mb,
        limit=limit_mb,
    )


def _page_message(error: HTTPException) -> str:
    """The error's own description, or Werkzeug's stock one in the page's language."""
    if error.description != type(error).description:
        return error.description or ""
    stock = {
        400: _("The browser sent a request this dashboard could not use."),
        401: _("Sign in to see this page."),
        403: _("Your role does not allow this."),
        404: _("There is nothing at this address. Check the link, or start again from the menu."),
        405: _("This address does not accept that kind of request."),
    }
    return stock.get(error.code or 500, error.description or "")


def init_error_pages(app: Flask) -> None:
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge):
        if _is_api_request():
            return api_error(413, _too_large_message())
        return render_template("error.html", status=413, message=_too_large_message()), 413

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        message = _(
            "This form has expired or did not come from this dashboard. "
            "Reload the page and send it again."
        )
        if _is_api_request():
            return api_error(400, message)
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        # The error's own headers carry meaning (Allow on a 405, Retry-After, WWW-Authenticate).
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if _is_api_request():
            response, _status = api_error(status, _page_message(error) or error.name)
            response.headers.extend(headers)
            return response, status
        page = render_template("error.html", status=status, message=_page_message(error))
        return page, status, headers

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        # A failed statement leaves the session unusable, and the error page reads the
        # signed-in user through it: without this the page itself fails, as a bare 500.
        try:
            db.session.rollback()
        except Exception:  # the connection itself is gone: the page needs no database
            log.warning("could not roll back after the error", exc_info=True)
        message = _("Something went wrong on our side; the error has been logged.")
        if _is_api_request():
            return api_error(500, message)
        return render_template("error.html", status=500, message=message), 500
