"""The list pages that htmx refreshes in place (Campaigns, History, Caught mail): when a request
wants the list alone, and how the page or the list is answered."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response, request


def wants_list_only() -> bool:
    """An htmx request swapping the list in; not htmx restoring the page from its history,
    which needs the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def list_answer(html: str, errors: Mapping[str, str]) -> Response:
    """`html` with 422 when the query had errors (htmx is configured to swap a 422: the list and
    the words beside the fields show), else 200; kept apart in caches by `HX-Request`."""
    response = Response(html, status=422 if errors else 200)
    response.vary.add("HX-Request")
    return response
