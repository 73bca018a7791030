"""Counts the outcome handler keeps beside the rows for the statistics, in the same transaction as
the outcomes: messages sent per hour, and the messages sent more than once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db


class SentHour(db.Model):
    """How many messages have their sent_at in the hour that starts at `hour` (naive UTC)."""

    __tablename__ = "sent_hour"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)


class DuplicateSend(db.Model):
    """A message with more than one sent attempt."""

    __tablename__ = "duplicate_send"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("message.id", ondelete="CASCADE"), primary_key=True
    )
