"""Importing a stored upload (a Celery task): its chunks are streamed, each row validated,
de-duplicated and checked against the suppression list, and stored as a draft message, with
progress and counts written to the import's row as it goes."""

from __future__ import annotations

import io
import itertools
import logging
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from json.encoder import encode_basestring
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, insert, or_, select, update

from dashboard.campaigns.csv_reading import CsvFormatError, CsvLayout, name_column, read_records
from dashboard.campaigns.xlsx_reading import XLSX_ENCODING, read_workbook_rows
from dashboard.extensions import db
from dashboard.mail.addresses import AddressError
from dashboard.mail.headers import HeaderInjectionError, check_header_value, has_bidi_control
from dashboard.mail.recipient_check import check_address
from dashboard.mail.sentences import THE_NAME, english
from dashboard.models import (
    CHUNK_BYTES,
    CsvChunk,
    CsvImport,
    CsvProblem,
    ImportStatus,
    Message,
    MessageStatus,
    utcnow,
)
from dashboard.sending.stored_texts import (
    FILE_TOO_LONG,
    ROW_BIDI_NAME,
    ROW_NOT_DECODED,
    ROW_OF_ONE_FIELD,
    ROW_TOO_SHORT,
    ROW_TOO_WIDE,
)
from dashboard.sending.suppression import suppressed_among

log = logging.getLogger(__name__)

ROWS_PER_COMMIT = 10_000
STALE_IMPORT_MINUTES = 15


class _ChunkReader(io.RawIOBase):
    """The stored chunks of one upload as a file, fetched one at a time."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.seq = 0
        self.buffer = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self.buffer:
            chunk = db.session.scalar(
                select(CsvChunk.data).where(
                    CsvChunk.import_id == self.import_id, CsvChunk.seq == self.seq
                )
            )
            if chunk is None:
                return 0
            self.seq += 1
            self.buffer = chunk
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        self.bytes_read += size
        return size


# Columns the import writes, in the order of each row tuple below.
_MESSAGE_COLUMNS = (
    "campaign_id",
    "to_address",
    "to_name",
    "status",
    "attempts",
    "message_id_header",
    "merge_data",
    "created_at",
    "updated_at",
)


class _RowSink:
    """Collects valid rows and problems and writes them in bulk with the import's counters.

    Rows go to the driver's executemany as plain tuples: the ORM's per-row bookkeeping would
    cost more than reading, checking and encoding the row together.
    """

    def __init__(self, csv_import: CsvImport, domain: str) -> None:
        self.csv_import = csv_import
        self.campaign_id = csv_import.campaign_id
        self.prefix = f"<{self.campaign_id}."
        self.suffix = f".{secrets.token_hex(6)}@{domain}>"
        self.rows: list[tuple[Any, ...]] = []
        self.empties: list[tuple[int, ...]] = []  # each row's empty columns, beside `rows`
        self.empty_counts = [0] * len(csv_import.columns)
        self.problems: list[dict[str, Any]] = []
        self.serial = 0
        self.rows_read = self.invalid = self.duplicates = 0
        # Every draft of the import carries the time the import started, already in the form
        # the driver takes, so that a row is one tuple built once.
        created_at = Message.__table__.c.created_at.type
        to_db = created_at._cached_bind_processor(db.session.connection().dialect)
        self.created_at = to_db(utcnow()) if to_db else utcnow()

    def add_problem(self, line: int, email: str, reason: str) -> None:
        self.problems.append(
            {"import_id": self.csv_import.id, "line": line, "email": email[:320], "reason": reason}
        )
        self.invalid += 1

    def add_row(self, address: str, name: str, data: str, empties: tuple[int, ...]) -> None:
        self.serial += 1
        self.empties.append(empties)
        # The Message-ID is unique without a random call per row: campaign, row, import token.
        self.rows.append(
            (
                self.campaign_id,
                address,
                name,
                "draft",
                0,
                f"{self.prefix}{self.serial}{self.suffix}",
                data,
                self.created_at,
                self.created_at,
            )
        )

    def flush(self, bytes_read: int) -> None:
        csv_import = self.csv_import
        if self.rows:
            suppressed = suppressed_among(row[1] for row in self.rows)
            if suppressed:
                kept = [
                    (row, empties)
                    for row, empties in zip(self.rows, self.empties, strict=True)
                    if row[1].lower() not in suppressed
                ]
                csv_import.suppressed += len(self.rows) - len(kept)
                self.rows = [row for row, _ in kept]
                self.empties = [empties for _, empties in kept]
        if self.rows:
            _insert_messages(self.rows)
            csv_import.rows_valid += len(self.rows)
            for empties in self.empties:
                for index in empties:
                    self.empty_counts[index] += 1
            csv_import.empty_counts = dict(zip(csv_import.columns, self.empty_counts, strict=True))
        if self.problems:
            db.session.execute(insert(CsvProblem), self.problems)
        csv_import.bytes_read = bytes_read
        csv_import.rows_read = self.rows_read
        csv_import.rows_invalid = self.invalid
        csv_import.duplicates = self.duplicates
        db.session.commit()
        self.rows, self.empties, self.problems = [], [], []


def _insert_messages(rows: list[tuple[Any, ...]]) -> None:
    connection = db.session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {Message.__table__.name} ({', '.join(_MESSAGE_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_MESSAGE_COLUMNS))})"
    )
    connection.exec_driver_sql(statement, rows)


def run_import(import_id: int) -> str:
    """Import an uploaded file's rows as draft messages; returns the import's final status.

    Idempotent: the import is claimed with one conditional UPDATE, so a second delivery of the
    task does nothing while the first runs or after it finished; an import left half-way for
    STALE_IMPORT_MINUTES (its worker died) is claimed again and starts from a clean slate.
    """
    now = utcnow()
    claimed = db.session.execute(
        update(CsvImport)
        .where(
            CsvImport.id == import_id,
            or_(
                CsvImport.status == ImportStatus.UPLOADED,
                and_(
                    CsvImport.status == ImportStatus.IMPORTING,
                    CsvImport.started_at < now - timedelta(minutes=STALE_IMPORT_MINUTES),
                ),
            ),
        )
        .values(status=ImportStatus.IMPORTING, started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    csv_import = db.session.get(CsvImport, import_id)
    if not claimed or csv_import is None:
        return csv_import.status if csv_import else "missing"
    _discard_rows(csv_import)
    db.session.commit()
    campaign = csv_import.campaign
    layout = CsvLayout(
        encoding=csv_import.encoding,
        delimiter=csv_import.delimiter,
        columns=tuple(csv_import.columns),
        email_index=csv_import.columns.index("email"),
        name_index=name_column(csv_import.columns),
    )
    domain = (
        current_app.config["MAIL_MESSAGE_ID_DOMAIN"] or campaign.from_address.rpartition("@")[2]
    )
    reader = _ChunkReader(import_id)
    sink = _RowSink(csv_import, domain)
    try:
        _import_rows(
            reader,
            layout,
            sink,
            max_rows=current_app.config["CSV_MAX_ROWS"],
            max_row_bytes=current_app.config["CSV_MAX_ROW_KB"] * 1024,
        )
    except CsvFormatError as error:
        db.session.rollback()
        return _fail(import_id, str(error))
    except Exception:
        db.session.rollback()
        log.exception("import of upload %s failed", import_id)
        _fail(import_id, "The import stopped on an error on our side; it has been logged.")
        raise
    csv_import.status = ImportStatus.READY
    csv_import.finished_at = utcnow()
    csv_import.bytes_read = csv_import.size_bytes
    db.session.execute(delete(CsvChunk).where(CsvChunk.import_id == import_id))
    db.session.commit()
    return ImportStatus.READY


def _import_rows(
    reader: _ChunkReader, layout: CsvLayout, sink: _RowSink, *, max_rows: int, max_row_bytes: int
) -> None:
    with _records(reader, layout, max_row_bytes) as records:
        _check_rows(records, reader, layout, sink, max_rows=max_rows)
    sink.flush(reader.bytes_read)


@contextmanager
def _records(
    reader: _ChunkReader, layout: CsvLayout, max_row_bytes: int
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The upload's data rows as (line or spreadsheet row, cells)."""
    if layout.encoding != XLSX_ENCODING:
        text = io.TextIOWrapper(
            io.BufferedReader(reader, CHUNK_BYTES),
            encoding=layout.encoding,
            newline="",
            errors="replace",
        )
        yield read_records(text, layout, max_row_bytes=max_row_bytes)
        return
    # A workbook is a zip archive, read from its end: it is copied to a temporary file first
    # (on disk past a few MB, so memory stays bounded).
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
        shutil.copyfileobj(reader, copy, CHUNK_BYTES)
        copy.seek(0)
        rows = read_workbook_rows(
            copy, max_fields=current_app.config["CSV_MAX_FIELDS"], max_row_bytes=max_row_bytes
        )
        width = len(layout.columns)
        yield (
            # An empty cell is a value, not a missing field: short rows are padded.
            (number, cells + [""] * (width - len(cells)) if len(cells) < width else cells)
            for number, cells in itertools.islice(rows, 1, None)
        )


def _check_rows(
    records: Iterator[tuple[int, list[str]]],
    reader: _ChunkReader,
    layout: CsvLayout,
    sink: _RowSink,
    *,
    max_rows: int,
) -> None:
    columns, width = layout.columns, len(layout.columns)
    email_index, name_index = layout.email_index, layout.name_index
    seen: set[str] = set()
    # The row as a JSON object, written by hand: every row has the same keys, and the C string
    # encoder alone is a quarter of the cost of json.dumps on a dict.
    quote = encode_basestring
    keys = [quote(column) + ": " for column in columns]
    plain_address = check_address
    for line, cells in records:
        sink.rows_read += 1
        if sink.rows_read > max_rows:
            raise CsvFormatError(english(FILE_TOO_LONG, rows=f"{max_rows:,}"))
        if len(cells) != width:
            sink.add_problem(
                line,
                cells[email_index] if email_index < len(cells) else "",
                _width_problem(len(cells), width, layout.delimiter),
            )
            continue
        raw = cells[email_index]
        try:
            address = plain_address(raw)
        except AddressError as error:
            sink.add_problem(line, raw, str(error))
            continue
        if "\ufffd" in "".join(cells):
            sink.add_problem(line, raw, english(ROW_NOT_DECODED, encoding=layout.encoding))
            continue
        key = address.lower()
        if key in seen:
            sink.duplicates += 1
            continue
        seen.add(key)
        cells[email_index] = address
        data = "{" + ", ".join([k + quote(c) for k, c in zip(keys, cells, strict=True)]) + "}"
        name = " ".join(cells[name_index].split())[:200] if name_index is not None else ""
        if has_bidi_control(name):
            sink.add_problem(line, raw, ROW_BIDI_NAME)
            continue
        try:  # it becomes the To header's name: a control character would fail it at the send
            check_header_value(name, field=THE_NAME)
        except HeaderInjectionError as error:
            sink.add_problem(line, raw, str(error))
            continue
        sink.add_row(address, name, data, empty_columns(cells) if "" in cells else ())
        if len(sink.rows) + len(sink.problems) >= ROWS_PER_COMMIT:
            sink.flush(reader.bytes_read)


def _width_problem(fields: int, width: int, delimiter: str) -> str:
    if fields == 1:
        return english(ROW_OF_ONE_FIELD, width=width, delimiter=delimiter)
    problem = ROW_TOO_WIDE if fields > width else ROW_TOO_SHORT
    return english(problem, fields=fields, width=width, delimiter=delimiter)


def empty_columns(cells: list[str]) -> tuple[int, ...]:
    """The positions of a row's empty values (a merge field there merges nothing)."""
    return tuple(index for index, cell in enumerate(cells) if not cell.strip())


def _discard_rows(csv_import: CsvImport) -> None:
    """Remove what an earlier, interrupted attempt wrote (nothing half-written stays)."""
    db.session.execute(
        delete(Message).where(
            Message.campaign_id == csv_import.campaign_id, Message.status == MessageStatus.DRAFT
        )
    )
    db.session.execute(delete(CsvProblem).where(CsvProblem.import_id == csv_import.id))
    csv_import.empty_counts = {}
    for counter in (
        "bytes_read",
        "rows_read",
        "rows_valid",
        "rows_invalid",
        "duplicates",
        "suppressed",
    ):
        setattr(csv_import, counter, 0)


def _fail(import_id: int, reason: str) -> str:
    csv_import = db.session.get(CsvImport, import_id)
    _discard_rows(csv_import)
    csv_import.status = ImportStatus.FAILED
    csv_import.error = reason
    csv_import.finished_at = utcnow()
    db.session.execute(delete(CsvChunk).where(CsvChunk.import_id == import_id))
    db.session.commit()
    return ImportStatus.FAILED
