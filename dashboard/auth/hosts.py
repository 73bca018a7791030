"""The Host header is not believed: a request naming a host outside TRUSTED_HOSTS is a 400
before the app sees it, and the links the app hands out are built on PUBLIC_BASE_URL, so a
forged Host cannot end up in a `Location`, a `status_url` or a mail."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.exceptions import SecurityError
from werkzeug.routing import Map, MapAdapter
from werkzeug.sansio.utils import get_host
from werkzeug.wrappers import Response

UNTRUSTED_HOST = "This server does not answer for that host name.\n"


class TrustedHostGuard:
    """WSGI middleware: a plain 400 for an untrusted Host, before routing, sessions or error
    pages (Flask's own check fails later, where its error page cannot build a URL)."""

    def __init__(self, app: Any, hosts: list[str]) -> None:
        self.app, self.hosts = app, hosts

    def __call__(self, wsgi_env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            get_host(
                wsgi_env["wsgi.url_scheme"],
                wsgi_env.get("HTTP_HOST"),
                (wsgi_env.get("SERVER_NAME", ""), int(wsgi_env.get("SERVER_PORT") or 0)),
                self.hosts,
            )
        except SecurityError:
            refusal = Response(UNTRUSTED_HOST, status=400, mimetype="text/plain")
            refusal.headers["X-Content-Type-Options"] = "nosniff"
            refusal.headers["Cache-Control"] = "no-store"
            return refusal(wsgi_env, start_response)
        return self.app(wsgi_env, start_response)


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` under PUBLIC_BASE_URL, in or outside a request."""
    adapter = _public_adapter(current_app.url_map, current_app.config["PUBLIC_BASE_URL"])
    return adapter.build(endpoint, values, force_external=True)


@lru_cache(maxsize=16)
def _public_adapter(url_map: Map, base_url: str) -> MapAdapter:
    # Bound once per app and base (every 202 of the API builds two URLs); building is
    # read-only, so the threads of a process share it.
    base = urlsplit(base_url)
    return url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http")
