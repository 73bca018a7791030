"""Header values that cannot smuggle in extra headers."""

from __future__ import annotations

MAX_HEADER_CHARS = 998  # RFC 5322 line limit; longer values are refused, not truncated.


class HeaderInjectionError(ValueError):
    """A header value held CR, LF or NUL, which would let it add headers of its own."""


def check_header_value(value: str, *, field: str = "header") -> str:
    """Return `value` unchanged, or raise if it contains CR, LF or NUL or is overlong."""
    for char, name in (
        ("\r", "a carriage return (CR)"),
        ("\n", "a line feed (LF)"),
        ("\0", "a NUL byte"),
    ):
        if char in value:
            raise HeaderInjectionError(f"{field} must be a single line; it contains {name}")
    if len(value) > MAX_HEADER_CHARS:
        raise HeaderInjectionError(
            f"{field} is {len(value)} characters long; the limit is {MAX_HEADER_CHARS}"
        )
    return value
