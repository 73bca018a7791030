"""The history as CSV: streamed row by row, with spreadsheet formulas disarmed, its times in the
reader's zone as the page shows them, each with its UTC offset (`2026-12-06 16:12:30+07:00`) so
the file says which zone it is in."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from dashboard.models import Message
from dashboard.reporting.csv_cells import spreadsheet_safe
from dashboard.sending.schedule import to_display

COLUMNS = (
    "id",
    "created_at",
    "campaign",
    "subject",
    "to_name",
    "to_address",
    "status",
    "attempts",
    "last_code",
    "last_reply",
    "sent_at",
    "last_event_at",
)


def neutralise(value: object) -> str:
    """The cell's text; one that a spreadsheet would run as a formula gets a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return to_display(value).isoformat(sep=" ", timespec="seconds")
    return spreadsheet_safe(value) if isinstance(value, str) else str(value)


def csv_row(message: Message) -> list[str]:
    return [
        neutralise(value)
        for value in (
            message.id,
            message.created_at,
            message.campaign_id,
            message.subject_as_sent,
            message.to_name,
            message.to_address,
            message.status,
            message.attempts,
            message.last_code,
            message.last_reply,
            message.sent_at,
            message.updated_at,
        )
    ]


def csv_lines(messages: Iterable[Message], *, flush_every: int = 500) -> Iterator[str]:
    """A BOM (so spreadsheets read UTF-8), the header, then the rows in chunks of text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    for count, message in enumerate(messages, start=1):
        writer.writerow(csv_row(message))
        if count % flush_every == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
