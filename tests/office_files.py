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
    """An .xlsx written by openpyxl (write mode): numbers and dates as typed values with their
    display formats as Excel saves them, texts inline (`with_shared_strings` moves them to the
    shared-strings part where Excel keeps them)."""
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


def with_shared_strings(workbook: bytes, styled: dict[str, str] | None = None) -> bytes:
    """`workbook` (openpyxl writes every text inline) with its first sheet's texts moved to a
    shared-strings part, one entry per distinct text in the order each first occurs, as Excel
    saves them. `styled` maps a text to the body Excel writes for its entry when part of it is
    formatted (rich-text runs) or it carries phonetic guides, in place of the plain `<t>`."""
    import io
    import re
    import zipfile

    styled = styled or {}
    strings: dict[str, int] = {}

    def shared(match: re.Match[bytes]) -> bytes:
        index = strings.setdefault(match[3].decode(), len(strings))
        return b'<c %st="s"%s><v>%d</v></c>' % (match[1], match[2], index)

    inline = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*)><is><t[^>]*>(.*?)</t></is></c>')
    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = inline.sub(shared, data)
            elif item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rIdStrings"/>'
                    b"</Relationships>",
                )
            target.writestr(item, data)
        plain = '<t xml:space="preserve">{}</t>'.format
        entries = "".join(f"<si>{styled.get(text) or plain(text)}</si>" for text in strings)
        target.writestr(
            "xl/sharedStrings.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://'
            f'schemas.openxmlformats.org/spreadsheetml/2006/main" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{entries}</sst>',
        )
    return out.getvalue()
