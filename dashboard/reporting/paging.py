"""Reading a keyset page's position (`?before=`/`?after=`: the id a page starts after), as every
list that pages by id takes it: History, Caught mail, Campaigns, the audit trail, their API."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _

# Row ids are 32-bit in PostgreSQL (`serial`): a larger position names no row, and comparing a
# column with it fails the query there.
LARGEST_ID = 2**31 - 1


def page_cursor(args: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    """The page position `name` in `args`, or None; a bad value is explained in `errors` under
    its name, to be shown beside the rest."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if raw.isdigit() and len(raw) <= 10 and int(raw) <= LARGEST_ID:
        return int(raw)
    errors[name] = _(
        "'%(value)s' is not a page position; start again from the first page", value=raw[:40]
    )
    return None
