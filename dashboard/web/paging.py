"""Reading a keyset page's position from the URL, as the history and Caught mail pages take it."""

from __future__ import annotations

from flask import request


def page_cursor(name: str, errors: dict[str, str]) -> int | None:
    """The id a page starts after (`?before=`/`?after=`), or None; a bad value is added to
    `errors` under its name, to be shown beside the rest."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if raw.isdigit() and len(raw) <= 18:
        return int(raw)
    errors[name] = f"'{raw[:40]}' is not a page position; start again from the first page"
    return None
