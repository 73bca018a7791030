"""Reading a keyset page's position (`?before=`/`?after=`: the id a page starts after), as every
list that pages by id takes it: History, Caught mail, Campaigns, the audit trail, their API."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _


def page_cursor(args: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    """The page position `name` in `args`, or None; a bad value is explained in `errors` under
    its name, to be shown beside the rest."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if raw.isdigit() and len(raw) <= 18:
        return int(raw)
    errors[name] = _(
        "'%(value)s' is not a page position; start again from the first page", value=raw[:40]
    )
    return None
