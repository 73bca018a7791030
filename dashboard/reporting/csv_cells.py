"""One rule for every CSV the app writes (the history export, an import's invalid rows): a cell
a spreadsheet would run as a formula is written as text (OWASP, CSV injection)."""

from __future__ import annotations

# A spreadsheet runs a cell that starts with one of these as a formula, also after leading
# spaces, tabs or line breaks (some strip them first); the fullwidth forms are converted by
# East Asian input settings. Tab and CR alone start a formula in some importers.
_FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63")


def spreadsheet_safe(text: str) -> str:
    """The text, with a leading `'` when a spreadsheet would read it as a formula."""
    if not text:
        return text
    if text[0] in _FORMULA_STARTS or text.lstrip()[:1] in _FORMULA_STARTS:
        return "'" + text
    return text
