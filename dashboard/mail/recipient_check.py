"""Checking one bare address fast enough for a million CSV rows: almost every real address is
plain ASCII that `addresses.plain_address` accepts without `email_validator` (about 40 µs an
address); only the rest go to it, so the answer is always one it would give."""

from __future__ import annotations

from dashboard.mail.addresses import AddressError, valid_address
from dashboard.mail.sentences import EMPTY_ADDRESS


def check_address(text: str) -> str:
    """The address, normalised (domain lower-cased, IDN as punycode), or AddressError saying why."""
    text = text.strip()
    if not text:
        raise AddressError(EMPTY_ADDRESS)
    return valid_address(text)
