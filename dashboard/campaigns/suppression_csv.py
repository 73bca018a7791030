"""Reading an uploaded suppression list: its `email` column (else its first column), one row at
a time within the same per-row bounds as a campaign's CSV, so an odd file is a clear error
naming its line, never a 500 or a file read whole into memory twice."""

from __future__ import annotations

import codecs
import io

from flask import current_app

from dashboard.campaigns.csv_reading import (
    SNIFF_BYTES,
    CsvFormatError,
    CsvLayout,
    read_records,
    sniff_layout,
)


def addresses_from_csv(data: bytes) -> list[tuple[int, str]]:
    """The non-empty cells of the list's address column, each with the line of the file it is
    on; CsvFormatError says what is wrong."""
    config = current_app.config
    try:
        layout = sniff_layout(
            data[:SNIFF_BYTES],
            complete=len(data) <= SNIFF_BYTES,
            max_fields=config["CSV_MAX_FIELDS"],
        )
        has_header = True
    except CsvFormatError:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\0" in data:
            raise
        # A bare list of addresses, one per line.
        layout = CsvLayout("utf-8-sig", ",", ("email",), email_index=0, name_index=None)
        has_header = False
    text = io.TextIOWrapper(
        io.BytesIO(data), encoding=layout.encoding, errors="replace", newline=""
    )
    index = layout.email_index
    records = read_records(
        text, layout, max_row_bytes=config["CSV_MAX_ROW_KB"] * 1024, has_header=has_header
    )
    return [
        (line, cells[index])
        for line, cells in records
        if len(cells) > index and cells[index].strip()
    ]
