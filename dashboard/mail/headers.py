"""Header values that cannot smuggle in extra headers, and fresh Message-IDs."""

from __future__ import annotations

import re
from email.utils import make_msgid

MAX_HEADER_CHARS = 998  # RFC 5322 line limit; longer values are refused, not truncated.


class HeaderInjectionError(ValueError):
    """A header value held CR, LF or NUL, which would let it add headers of its own."""


# Other characters that end a line for someone (str.splitlines, some mail software), and the
# remaining control characters: none belongs in a header value, so none gets in.
_LINE_BREAKERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def check_header_value(value: str, *, field: str = "header") -> str:
    """Return `value` unchanged, or raise if it contains CR, LF, NUL or any other control or
    line-separator character, or is overlong."""
    for char, name in (
        ("\r", "a carriage return (CR)"),
        ("\n", "a line feed (LF)"),
        ("\0", "a NUL byte"),
    ):
        if char in value:
            raise HeaderInjectionError(f"{field} must be a single line; it contains {name}")
    found = _LINE_BREAKERS.search(value)
    if found:
        raise HeaderInjectionError(
            f"{field} must be a single line of text; it contains the control or line-separator "
            f"character U+{ord(found.group()):04X}"
        )
    if len(value) > MAX_HEADER_CHARS:
        raise HeaderInjectionError(
            f"{field} is {len(value)} characters long; the limit is {MAX_HEADER_CHARS}"
        )
    return value


def new_message_id(domain: str) -> str:
    """A fresh `<...@domain>` Message-ID."""
    return make_msgid(domain=domain or "localhost")
