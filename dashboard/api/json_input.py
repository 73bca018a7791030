"""Reading a JSON request body, with its nesting bounded before it is parsed: a body nested
hundreds of levels deep (in a key nobody reads) would otherwise exhaust Python's stack in the
parser, the validator or the error message about it."""

from __future__ import annotations

import re

from flask import request
from flask_babel import gettext as _

from dashboard.errors import api_error

MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


_WALKED = 64 * 1024


def too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw` nests arrays and objects more than `limit` deep, found without parsing it:
    strings are dropped and the brackets kept (C-speed byte passes). A short structure is walked
    bracket by bracket; a long one has its innermost empty pairs peeled off once per level, and
    whatever is left after `limit` passes is deeper than that or brackets that do not pair up
    (not JSON): a 400 either way."""
    structure = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if len(structure) <= _WALKED:
        depth = 0
        for byte in structure:
            depth += 1 if byte in b"[{" else -1
            if depth > limit:
                return True
        return False
    for _pass in range(limit):
        structure = structure.replace(b"[]", b"").replace(b"{}", b"")
    return bool(structure)


def json_body() -> tuple[object | None, tuple | None]:
    """The request's JSON object, or the API error to answer instead."""
    if not request.is_json:
        return None, api_error(415, _("Send the body as JSON with Content-Type: application/json."))
    if too_deep(request.get_data(cache=True)):
        return None, api_error(
            400,
            _(
                "The JSON body is nested more than %(depth)s levels deep (or its brackets do "
                "not pair up).",
                depth=MAX_JSON_DEPTH,
            ),
        )
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        return None, api_error(400, _("The JSON body is nested too deeply."))
    if data is None:
        return None, api_error(400, _("The body is not valid JSON."))
    if not isinstance(data, dict):
        return None, api_error(422, _("The body must be a JSON object."))
    return data, None
