"""Reading the CSV files people export from Excel or Google Sheets: UTF-8 with or without a BOM,
UTF-16 with one, or Windows-1258 (what Vietnamese Excel writes for plain "CSV"); comma, semicolon
or tab separated; a header row with an `email` column.

The encoding is decided in a fixed order, from the file's first 64 KB: a BOM (UTF-8 or UTF-16);
else UTF-8 if those bytes are valid UTF-8; else Windows-1258 if every byte is defined in it and
every non-ASCII letter it gives, once composed (NFC), is a letter of the Vietnamese alphabet;
else the file is refused with what to do. The last test keeps a Western or Cyrillic single-byte
file (`Müller`, `Ñandú`, `Иван`) from being read as mojibake: no Vietnamese word has those letters.

The layout (encoding, delimiter, columns) is found from the file's first bytes, so a bad file is
refused while the person is still on the page; the rows are then read as a stream.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from dashboard.mail.sentences import english
from dashboard.sending.stored_texts import (
    FILE_BINARY,
    FILE_CONTROL_CHARACTERS,
    FILE_EMPTY,
    FILE_NOT_DECODED,
    FILE_NOT_UNICODE,
    FILE_NOT_VIETNAMESE,
    LINE_UNREADABLE,
    NO_EMAIL_COLUMN,
    NOTHING,
    RECORD_TOO_LONG,
    SAME_COLUMN_NAME,
    SAVE_AS_UTF8,
    TOO_MANY_COLUMNS,
)

SNIFF_BYTES = 64 * 1024
# Per-row bounds when the caller gives none (the app passes CSV_MAX_FIELDS and CSV_MAX_ROW_KB).
MAX_FIELDS = 1000
MAX_ROW_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_EMAIL_HEADERS = {"email", "emailaddress", "e-mail", "e-mailaddress", "mail"}
# Columns whose value becomes the recipient's display name (`To: Name <address>`), by their
# template variable, the first one present winning; the variable itself keeps its own name.
NAME_VARIABLES = ("name", "full_name", "fullname", "họ_và_tên", "họ_tên", "tên")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_IDENTIFIER = re.compile(r"\W+")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read as a CSV of recipients; the message says what to do."""


@dataclass(frozen=True)
class CsvLayout:
    encoding: str  # a Python codec name: utf-8-sig, utf-16 or cp1258
    delimiter: str
    columns: tuple[str, ...]  # each column's template variable, in file order
    email_index: int
    name_index: int | None

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES.get(self.delimiter, "")


# Every letter of the Vietnamese alphabet beyond ASCII, composed, both cases: the vowels with
# their five tone marks (and none), đ.
_VIETNAMESE_VOWELS = "aăâeêioôơuưy"
_VIETNAMESE_LETTERS = frozenset(
    unicodedata.normalize("NFC", base + tone)
    for base in _VIETNAMESE_VOWELS + _VIETNAMESE_VOWELS.upper()
    for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
) | {"đ", "Đ"}
ENCODING_LABELS = {
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "cp1258": 'Windows-1258 (Vietnamese Excel\'s "CSV")',
    "xlsx": "Excel workbook (.xlsx), first sheet",
}


def encoding_label(encoding: str) -> str:
    """How the page names a detected encoding."""
    return ENCODING_LABELS.get(encoding, encoding)


def _is_utf8(sample: bytes, complete: bool) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def _vietnamese_problem(text: str) -> str | None:
    """Why `text` (decoded as Windows-1258) is not Vietnamese, or None: a letter outside the
    Vietnamese alphabet, or a tone mark that composes with nothing."""
    for character in unicodedata.normalize("NFC", text):
        if character.isascii() or character in _VIETNAMESE_LETTERS:
            continue
        category = unicodedata.category(character)
        if category.startswith("L") or category.startswith("M"):
            return character
    return None


def _encoding_of(sample: bytes, complete: bool) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\0" in sample:
        raise CsvFormatError(FILE_BINARY)
    if _is_utf8(sample, complete):
        return "utf-8-sig"
    try:
        text = sample.decode("cp1258")
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            english(
                FILE_NOT_DECODED,
                byte=f"{sample[error.start]:#04x}",
                position=error.start,
                why=SAVE_AS_UTF8,
            )
        ) from None
    if not complete:
        text = text[:-1]  # a tone mark may be cut from its letter at the sample's end
    odd = _vietnamese_problem(text)
    if odd is not None:
        raise CsvFormatError(english(FILE_NOT_VIETNAMESE, letter=odd, why=SAVE_AS_UTF8))
    return "cp1258"


def _decode_sample(sample: bytes, encoding: str, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        text = decoder.decode(sample, final=complete)
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            english(
                FILE_NOT_UNICODE,
                byte=f"{sample[error.start]:#04x}",
                position=error.start,
                why=SAVE_AS_UTF8,
            )
        ) from None
    return unicodedata.normalize("NFC", text) if encoding == "cp1258" else text


def header_key(cell: str) -> str:
    """A header cell with case and spacing ignored."""
    return re.sub(r"\s+", "", cell).lower()


def variable_name(cell: str, position: int) -> str:
    """A header cell as a template variable: `Company Name` → `company_name`, `ngày` → `ngày`."""
    if header_key(cell).replace("_", "") in _EMAIL_HEADERS:
        return "email"
    # NFC: a sheet saved on a Mac may spell `tên` with a combining accent; the template says it
    # with the composed letter, as a keyboard types it.
    name = _NOT_IDENTIFIER.sub("_", unicodedata.normalize("NFC", cell).strip().lower()).strip("_")
    if not name:
        return f"column_{position}"
    return name if name.isidentifier() else f"column_{name}"


def name_column(columns: Sequence[str]) -> int | None:
    """The position of the column that names the recipient, if the file has one."""
    return next((columns.index(v) for v in NAME_VARIABLES if v in columns), None)


def sniff_layout(sample: bytes, *, complete: bool, max_fields: int = MAX_FIELDS) -> CsvLayout:
    """Find encoding, delimiter and columns from the first bytes of a file (`complete` when the
    sample is the whole file); CsvFormatError says what is wrong and how to fix it."""
    encoding = _encoding_of(sample, complete)
    text = _decode_sample(sample, encoding, complete)
    if not text.strip():
        raise CsvFormatError(FILE_EMPTY)
    if _CONTROL.search(text[:4096]):
        raise CsvFormatError(FILE_CONTROL_CHARACTERS)
    lines = text.splitlines(keepends=True)
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the sample may end in the middle of a line
    best: tuple[int, str, list[str]] | None = None
    widest: list[str] = []
    for delimiter in DELIMITERS:
        header = next((row for row in csv.reader(lines, delimiter=delimiter) if any(row)), [])
        widest = max(widest, header, key=len)
        keys = [header_key(cell).replace("_", "") for cell in header]
        if any(key in _EMAIL_HEADERS for key in keys) and (best is None or len(header) > best[0]):
            best = (len(header), delimiter, header)
    if best is None:
        shown = ", ".join(repr(cell.strip()) for cell in widest[:10]) or NOTHING
        raise CsvFormatError(english(NO_EMAIL_COLUMN, cells=shown))
    _, delimiter, header = best
    return layout_of(header, encoding=encoding, delimiter=delimiter, max_fields=max_fields)


def has_email_column(header: Sequence[str]) -> bool:
    return any(header_key(cell).replace("_", "") in _EMAIL_HEADERS for cell in header)


def layout_of(
    header: Sequence[str], *, encoding: str, delimiter: str, max_fields: int = MAX_FIELDS
) -> CsvLayout:
    """The layout of a file whose header row is `header` (CsvFormatError if it cannot be)."""
    if not has_email_column(header):
        shown = ", ".join(repr(cell.strip()) for cell in header[:10]) or NOTHING
        raise CsvFormatError(english(NO_EMAIL_COLUMN, cells=shown))
    if len(header) > max_fields:
        raise CsvFormatError(
            english(TOO_MANY_COLUMNS, count=f"{len(header):,}", limit=f"{max_fields:,}")
        )
    columns = [variable_name(cell, position) for position, cell in enumerate(header, start=1)]
    seen: dict[str, int] = {}
    for position, name in enumerate(columns, start=1):
        if name in seen:
            raise CsvFormatError(
                english(SAME_COLUMN_NAME, first=seen[name], second=position, name=name)
            )
        seen[name] = position
    return CsvLayout(
        encoding=encoding,
        delimiter=delimiter,
        columns=tuple(columns),
        email_index=columns.index("email"),
        name_index=name_column(columns),
    )


class _BoundedLines:
    """The stream's lines for csv.reader, never more than `max_bytes` (UTF-8) for one record:
    each line is read with a size limit, so a 50 MB line of commas is refused after its first
    megabyte instead of being read whole and split into 50 million fields."""

    def __init__(self, stream: TextIO, max_bytes: int, compose: bool = False) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.compose = compose
        self.record_bytes = 0
        self.lines = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        # A character is at least one byte: asking for one more than the bytes left is enough
        # to see that a record is too long.
        line = self.stream.readline(self.max_bytes - self.record_bytes + 1)
        if not line:
            raise StopIteration
        self.lines += 1
        if self.compose and not line.isascii():
            # Windows-1258 writes tone marks as combining characters: one letter, as typed.
            line = unicodedata.normalize("NFC", line)
        self.record_bytes += len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
        if self.record_bytes > self.max_bytes:
            raise CsvFormatError(
                english(RECORD_TOO_LONG, line=self.lines, limit=f"{self.max_bytes // 1024:,}")
            )
        return line

    def record_done(self) -> None:
        self.record_bytes = 0


def read_records(
    stream: TextIO,
    layout: CsvLayout,
    *,
    max_row_bytes: int = MAX_ROW_BYTES,
    has_header: bool = True,
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number where the record starts, cells) for every record after the header
    (every record when the file `has_header` not).

    Blank lines (empty, or only delimiters) are skipped. A record may span lines (quoted
    newlines). CsvFormatError names the line where the file stops being readable, or the
    record longer than `max_row_bytes`: so a record's fields (at most one per byte) cost no
    more memory than that bound, however wide the row.
    """
    lines = _BoundedLines(stream, max_row_bytes, compose=layout.encoding == "cp1258")
    reader = csv.reader(lines, delimiter=layout.delimiter)
    previous_end = 0
    header_seen = not has_header
    try:
        for cells in reader:
            lines.record_done()
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cells):  # an empty line, or only delimiters
                continue
            if not header_seen:
                header_seen = True
                continue
            yield start, cells
    except csv.Error as error:
        raise CsvFormatError(english(LINE_UNREADABLE, line=previous_end + 1, error=error)) from None
