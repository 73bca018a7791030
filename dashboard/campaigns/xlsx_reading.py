"""Reading the first sheet of an Excel workbook (`.xlsx`) as rows of text, streamed with
openpyxl's read-only mode (measured against python-calamine in `bench/xlsx_readers.py`: calamine
is much faster but holds the whole sheet in memory; read-only mode parses one row at a time).

Each cell becomes the text a person sees in Excel, within reason: whole numbers as their digits
(a phone number `84912345678`, never `8.49e+10`; with a leading-zero format like `0000000000`,
the zeros too), other numbers in their shortest exact form, dates as ISO `2026-12-01` (with
` 14:30` when the cell has a time), TRUE/FALSE, an empty cell as nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from openpyxl.cell.read_only import EmptyCell
from openpyxl.reader.excel import ExcelReader
from openpyxl.worksheet import _reader as sheet_reader
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG, ROW_TAG
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.constants import SHARED_STRINGS
from openpyxl.xml.functions import iterparse

from dashboard.campaigns.csv_reading import CsvFormatError, CsvLayout, layout_of
from dashboard.campaigns.xlsx_shared_strings import SharedStrings
from dashboard.mail.sentences import english
from dashboard.sending.stored_texts import (
    NOT_A_WORKBOOK,
    ROW_TOO_LONG,
    ROW_TOO_MANY_CELLS,
    SHEET_EMPTY,
    WORKBOOK_BOMB,
    WORKBOOK_UNREADABLE,
)

XLSX_ENCODING = "xlsx"  # what the import records in place of a text encoding
ZIP_MAGIC = b"PK\x03\x04"
_ZEROS_FORMAT = re.compile(r"^0+$")
# A workbook's parts are unpacked while reading; a hostile one could unpack to gigabytes.
MAX_UNPACKED_RATIO = 100


def _size_from_the_head(sheet: ReadOnlyWorksheet) -> None:
    """openpyxl sizes a read-only sheet when the workbook is opened, looking for <dimension>
    with the *end* of each element; a sheet without one (written by many tools other than
    Excel) is parsed to the end of <sheetData>, keeping every emptied row element: 35 s and
    ~200 MB for a million rows, before the first row is read, in the upload's request and
    again in the import. <dimension> comes before <sheetData> when it is there at all, so the
    search stops where the rows begin; the result is the same."""
    source = sheet._get_source()
    try:
        for _event, element in iterparse(source, events=("start",)):
            if element.tag == DIMENSION_TAG:
                boundaries = SheetDimension.from_tree(element).boundaries
                sheet._min_column, sheet._min_row, sheet._max_column, sheet._max_row = boundaries
                return
            if element.tag == DATA_TAG:
                return
    finally:
        source.close()


def _iterparse_letting_rows_go(source: IO[bytes], *args: Any, **kwargs: Any) -> Iterator:
    """The sheet parser's iterparse, with each row taken out of <sheetData> once the parser
    has read it: openpyxl empties a row after reading it but leaves it in the tree, about
    100 bytes a row that stay until the end (~100 MB for a million rows)."""
    rows_parent = None
    for event, element in iterparse(source, events=("start", "end")):
        if event == "start":
            if element.tag == DATA_TAG:
                rows_parent = element
            continue
        yield event, element
        if element.tag == ROW_TAG and rows_parent is not None:
            rows_parent.remove(element)


ReadOnlyWorksheet._get_size = _size_from_the_head
sheet_reader.iterparse = _iterparse_letting_rows_go


class _LazyStringsReader(ExcelReader):
    """openpyxl's reader in read-only mode, with the shared strings read as the sheet asks
    for them (`xlsx_shared_strings`) instead of all of them when the workbook opens. The
    part stays open with the archive until the workbook is closed."""

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        if part is not None:
            self.shared_strings = SharedStrings(self.archive.open(part.PartName[1:]))

    def close(self) -> None:
        if isinstance(self.shared_strings, SharedStrings):
            self.shared_strings.close()
        self.wb.close()


def is_workbook(filename: str) -> bool:
    return filename.lower().endswith((".xlsx", ".xlsm"))


def cell_text(value: Any, number_format: str = "General") -> str:
    """A cell's value as the text a person reads in the sheet."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if isinstance(value, int) or (value.is_integer() and abs(value) < 1e16):
            digits = str(int(value))
            if _ZEROS_FORMAT.match(number_format):
                digits = digits.zfill(len(number_format))
            return digits
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes" if not value.second else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes" if not value.second else "seconds")
    return str(value)


def _check_archive(file: IO[bytes]) -> None:
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise CsvFormatError(NOT_A_WORKBOOK) from None
    packed = sum(member.compress_size for member in members) or 1
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_RATIO * packed + 10 * 1024 * 1024:
        raise CsvFormatError(WORKBOOK_BOMB)
    file.seek(0)


def read_workbook_rows(
    file: IO[bytes], *, max_fields: int, max_row_bytes: int
) -> Iterator[tuple[int, list[str]]]:
    """Yield (spreadsheet row number, cells as text) for each non-empty row of the first sheet,
    the header included, trailing empty cells dropped. `file` must be seekable.

    CsvFormatError when the file is not a workbook, or a row is wider than `max_fields`
    non-empty cells or longer than `max_row_bytes`."""
    _check_archive(file)
    try:
        reader = _LazyStringsReader(file, read_only=True, data_only=True)
        reader.read()
    except Exception as error:  # openpyxl raises many kinds on a damaged workbook
        raise CsvFormatError(english(WORKBOOK_UNREADABLE, error=type(error).__name__)) from None
    try:
        yield from _sheet_rows(reader.wb.worksheets[0], max_fields, max_row_bytes)
    except CsvFormatError:
        raise
    except Exception as error:  # the sheet's XML damaged past the rows read so far
        raise CsvFormatError(english(WORKBOOK_UNREADABLE, error=type(error).__name__)) from None
    finally:
        reader.close()


def _sheet_rows(
    sheet: ReadOnlyWorksheet, max_fields: int, max_row_bytes: int
) -> Iterator[tuple[int, list[str]]]:
    """The sheet's non-empty rows as text, each checked against the limits."""
    for number, row in enumerate(sheet.iter_rows(), start=1):
        cells = [
            "" if type(cell) is EmptyCell else cell_text(cell.value, cell.number_format)
            for cell in row
        ]
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            continue
        if len(cells) > max_fields:
            raise CsvFormatError(
                english(
                    ROW_TOO_MANY_CELLS,
                    row=number,
                    count=f"{len(cells):,}",
                    limit=f"{max_fields:,}",
                )
            )
        if sum(len(cell.encode()) for cell in cells) > max_row_bytes:
            raise CsvFormatError(
                english(ROW_TOO_LONG, row=number, limit=f"{max_row_bytes // 1024:,}")
            )
        yield number, cells


def sniff_workbook(file: IO[bytes], *, max_fields: int) -> CsvLayout:
    """The layout of a workbook's first sheet from its first non-empty row (the header);
    the file is left at its start."""
    rows = read_workbook_rows(file, max_fields=max_fields, max_row_bytes=1024 * 1024)
    try:
        header = next((cells for _, cells in rows), None)
    finally:
        rows.close()
    file.seek(0)
    if header is None:
        raise CsvFormatError(SHEET_EMPTY)
    return layout_of(header, encoding=XLSX_ENCODING, delimiter="", max_fields=max_fields)
