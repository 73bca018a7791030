"""Rows for bulk mail: CSV imports (with the uploaded file in chunks), saved templates and the
suppression list."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.base import IDS_NEVER_REUSED, MAX_DATABASE_ID, utcnow
from dashboard.models.messages import Campaign


class ImportStatus(StrEnum):
    UPLOADED = "uploaded"  # stored, waiting for a worker
    IMPORTING = "importing"
    READY = "ready"  # rows are drafts: the preview is there, waiting for Send
    FAILED = "failed"


class CsvImport(db.Model):
    """One uploaded CSV file and how far its import has come; one per CSV campaign."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(default=0)
    encoding: Mapped[str] = mapped_column(String(16))
    delimiter: Mapped[str] = mapped_column(String(1))
    # The header's column names as template variables, JSON list, in file order.
    columns_json: Mapped[str] = mapped_column(Text, default="[]")
    # How many imported rows have each column empty, JSON {column: count}, counted while
    # importing (the preview warns of a merge field that merges nothing for some rows).
    empty_counts_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.UPLOADED)
    error: Mapped[str | None] = mapped_column(Text)
    bytes_read: Mapped[int] = mapped_column(default=0)
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_valid: Mapped[int] = mapped_column(default=0)
    rows_invalid: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship()

    @property
    def columns(self) -> list[str]:
        return json.loads(self.columns_json)

    @property
    def empty_counts(self) -> dict[str, int]:
        return json.loads(self.empty_counts_json or "{}")

    @empty_counts.setter
    def empty_counts(self, counts: dict[str, int]) -> None:
        self.empty_counts_json = json.dumps(counts, ensure_ascii=False)

    @property
    def is_done(self) -> bool:
        return self.status in (ImportStatus.READY, ImportStatus.FAILED)

    @property
    def is_stalled(self) -> bool:
        """Stored a while ago and still not started: no worker got (or kept) the task."""
        waited = (utcnow() - (self.started_at or self.created_at)).total_seconds()
        return (self.status == ImportStatus.UPLOADED and waited > 30) or (
            self.status == ImportStatus.IMPORTING and waited > 15 * 60
        )

    @property
    def percent(self) -> int:
        if self.is_done or not self.size_bytes:
            return 100 if self.is_done else 0
        return min(99, int(100 * self.bytes_read / self.size_bytes))

    @property
    def rows_per_second(self) -> float | None:
        if not self.started_at or not self.finished_at:
            return None
        seconds = (self.finished_at - self.started_at).total_seconds()
        return self.rows_read / seconds if seconds > 0 else None


#: The size of each stored piece of an upload: the import streams them back in order.
CHUNK_BYTES = 1024 * 1024


class CsvChunk(db.Model):
    """A slice of an uploaded file, so that a worker on any host can read it back in order."""

    __table_args__ = (Index("ix_csv_chunk_import_seq", "import_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("csv_import.id", ondelete="CASCADE"))
    seq: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CsvProblem(db.Model):
    """A row of an uploaded file that was not imported, with its line number and the reason."""

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("csv_import.id", ondelete="CASCADE"), index=True
    )
    line: Mapped[int]
    email: Mapped[str] = mapped_column(String(320), default="")
    reason: Mapped[str] = mapped_column(Text)


class MessageTemplate(db.Model):
    """A saved subject and bodies with `{{ variables }}`, reusable from the compose and CSV
    pages."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(998))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    MANUAL = "manual"
    CSV = "csv"


class Suppression(db.Model):
    """An address that must never be mailed (stored lower-cased)."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The message whose bounce or complaint put the address here, when one did.
    message_id: Mapped[int | None]


def find_template(template_id: object) -> MessageTemplate | None:
    """The saved template with this id (as typed in a form or sent to the API), or None for
    anything that is not the id of one: text, a negative number, one too long for the column."""
    try:
        key = int(str(template_id).strip())
    except ValueError:
        return None
    if not 0 < key <= MAX_DATABASE_ID:
        return None
    return db.session.get(MessageTemplate, key)
