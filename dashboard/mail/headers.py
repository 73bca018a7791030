"""Header values that cannot smuggle in extra headers, and fresh Message-IDs."""

from __future__ import annotations

import re
from email.utils import make_msgid

from dashboard.mail.sentences import (
    BIDI_CONTROL,
    CONTROL_CHARACTER,
    CR,
    LF,
    NOT_ONE_LINE,
    NUL,
    TOO_LONG,
    english,
)

MAX_HEADER_CHARS = 998  # RFC 5322 line limit; longer values are refused, not truncated.


class HeaderInjectionError(ValueError):
    """A header value held CR, LF or NUL, which would let it add headers of its own."""


# Other characters that end a line for someone (str.splitlines, some mail software), and the
# remaining control characters: none belongs in a header value, so none gets in.
_LINE_BREAKERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


# Unicode's bidirectional controls reorder the text around them: in a file name or a person's
# name, U+202E makes `invoice<U+202E>fdp.exe` show as `invoiceexe.pdf`, and the marks (LRM, RLM,
# ALM) move the punctuation a name or file name is read by. Refused in names and file names;
# subjects and bodies keep them all, as right-to-left languages need them there.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class BidiControlError(ValueError):
    """A name or file name held a character that reorders how the text around it is shown."""


BIDI_NAME_REASON = (
    "contains a bidirectional control character (U+202E and the like), which changes the "
    "order in which the text is shown: a name or file name could pass for another"
)


def has_bidi_control(value: str) -> bool:
    return _BIDI_CONTROLS.search(value) is not None


def check_no_bidi_controls(value: str, *, field: str) -> str:
    """Return `value` unchanged, or raise BidiControlError naming the character."""
    found = _BIDI_CONTROLS.search(value)
    if found:
        raise BidiControlError(
            english(BIDI_CONTROL, field=field, char=f"U+{ord(found.group()):04X}")
        )
    return value


def check_header_value(value: str, *, field: str = "header") -> str:
    """Return `value` unchanged, or raise if it contains CR, LF, NUL or any other control or
    line-separator character, or is overlong."""
    if len(value) <= MAX_HEADER_CHARS and _LINE_BREAKERS.search(value) is None:
        return value  # the usual case; CR, LF and NUL are among the line breakers
    for char, name in (
        ("\r", CR),
        ("\n", LF),
        ("\0", NUL),
    ):
        if char in value:
            raise HeaderInjectionError(english(NOT_ONE_LINE, field=field, what=name))
    found = _LINE_BREAKERS.search(value)
    if found:
        raise HeaderInjectionError(
            english(CONTROL_CHARACTER, field=field, char=f"U+{ord(found.group()):04X}")
        )
    if len(value) > MAX_HEADER_CHARS:
        raise HeaderInjectionError(
            english(TOO_LONG, field=field, length=len(value), limit=MAX_HEADER_CHARS)
        )
    return value


def new_message_id(domain: str) -> str:
    """A fresh `<...@domain>` Message-ID."""
    return make_msgid(domain=domain or "localhost")
