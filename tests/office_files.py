"""Files made the way Vietnamese Excel writes them, for the import tests."""

from __future__ import annotations

import unicodedata

from tests.csv_campaign_helpers import csv_bytes

# Windows-1258 has letters like â, ơ, đ as one byte but the tones as separate combining bytes.
_TONES = "\u0300\u0301\u0303\u0309\u0323"


def excel_cp1258(text: str) -> bytes:
    """`text` as Excel saves it as Vietnamese "CSV": each letter's tone mark split off as a
    combining character after the base letter (itself one byte: ă, â, ê, ô, ơ, ư, đ)."""
    out = bytearray()
    for letter in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", letter)
        tones = "".join(c for c in decomposed if c in _TONES)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
        out += (base + tones).encode("cp1258")
    return bytes(out)


def excel_cp1258_csv(rows: list[list[str]]) -> bytes:
    return excel_cp1258(csv_bytes(rows).decode("utf-8"))


def excel_workbook(rows: list[list[object]], *, phone_format: str | None = None) -> bytes:
    """An .xlsx written by openpyxl (write mode), laid out as Excel saves one: shared strings,
    numbers and dates as typed values with their display formats."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Khách hàng"
    for row in rows:
        sheet.append(row)
    if phone_format:
        for (cell,) in sheet.iter_rows(min_row=2, min_col=3, max_col=3):
            cell.number_format = phone_format
    book.create_sheet("Ghi chú").append(["email"])  # only the first sheet is read
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
