"""What the embedded SMTP catcher received."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.base import IDS_NEVER_REUSED, utcnow

# Kept for Caught mail's search by the database, not described by the models (migration
# e4c8a2f7b913): SQLite's FTS5 table with the shadow tables FTS5 makes for it, and PostgreSQL's
# trigram index. Autogenerate and the schema comparison leave them alone.
SEARCH_INDEX_PREFIXES = ("caught_mail_fts", "ix_caught_mail_search_trgm")


def kept_by_the_database(name: str | None) -> bool:
    """Whether a table or index named `name` is one of the search's own (see above)."""
    return bool(name) and str(name).startswith(SEARCH_INDEX_PREFIXES)


class CaughtMail(db.Model):
    """A message received by the embedded SMTP catcher: what would have been sent.

    The From and To headers are kept decoded beside the raw bytes (display names included), and
    `search_text` holds the subject, both headers and the envelope lower-cased, so the list and
    its search read narrow columns and never parse or load `raw`."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    peer: Mapped[str] = mapped_column(String(100), default="")
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_tos: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_header: Mapped[str] = mapped_column(Text, default="", server_default="")
    to_header: Mapped[str] = mapped_column(Text, default="", server_default="")
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
