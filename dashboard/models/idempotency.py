"""Idempotency keys: the job a client's `Idempotency-Key` stands for, per user, for a day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.base import utcnow
from dashboard.models.messages import Campaign


class IdempotencyKey(db.Model):
    """A key a user sent with a request that created a campaign. It is inserted in the same
    transaction as that campaign, so the unique (user, key) pair is the proof that exactly one
    job exists for it: a concurrent duplicate's insert waits for the first and then fails."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_key_user_id_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the operation and its canonical request: the same key with another request is
    # refused, not answered with the first request's job.
    request_hash: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    # Keys live a day (sending.idempotency.KEY_LIFETIME); expired ones are purged by this index.
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    campaign: Mapped[Campaign] = relationship()
