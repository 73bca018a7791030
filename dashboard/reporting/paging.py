"""Reading a keyset page's position (`?before=`/`?after=`: the id a page starts after), as every
list that pages by id takes it: History, Caught mail, Campaigns, the audit trail, their API."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _

# Row ids are 32-bit in PostgreSQL (`serial`): a larger position names no row, and comparing a
# column with it fails the query there.
LARGEST_ID = 2**31 - 1


def whole_number(raw: str, most: int) -> int | None:
    """`raw` as a whole number if it is ASCII digits whose value is at most `most`, else None.
    (`str.isdigit` also takes "²", which `int` refuses, and other scripts' digits.)"""
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(most)) and int(raw) <= most:
        return int(raw)
    return None


def page_cursor(args: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    """The page position `name` in `args`, or None; a bad value is explained in `errors` under
    its name, to be shown beside the rest."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if (position := whole_number(raw, LARGEST_ID)) is not None:
        return position
    errors[name] = _(
        "'%(value)s' is not a page position; start again from the first page", value=raw[:40]
    )
    return None
