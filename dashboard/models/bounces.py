"""Bounce and complaint reports already recorded, so that one read twice counts once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.base import utcnow


class BounceReceipt(db.Model):
    """One report recorded against one message, written in the transaction of what it did.

    The same report comes back more than once (by IMAP and by the built-in receiver, a mailbox
    message read again after a crash before it was flagged, SNS delivering a notification
    twice): its key is unique per message, so a second reader, even a concurrent one, changes
    nothing. A different report of the same message (a later retry's DSN) has its own key.
    """

    __table_args__ = (UniqueConstraint("message_id", "report_key", name="uq_bounce_receipt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    # SHA-256 (hex) of the report's own Message-ID, of SES's feedback id, or of its bytes.
    report_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # hard, soft, complaint
    source: Mapped[str] = mapped_column(String(20), default="")  # smtp, imap, ses
    # What it did: `recorded`, or `repeat` (a hard bounce or complaint already recorded).
    outcome: Mapped[str] = mapped_column(String(16))
    suppressed: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
