"""Delivery webhooks: the endpoints people register, the outbox of events for each of them, and
every attempt at delivering one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.base import IDS_NEVER_REUSED, utcnow


class WebhookEvent(StrEnum):
    """What an endpoint can ask to hear about; the payload's `type` is `message.<event>`."""

    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # retries used up; a person can replay it


class WebhookEndpoint(db.Model):
    """A URL a user registered to hear about the events of their campaigns' messages."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The events it asked for, comma-separated (WebhookEvent values).
    events: Mapped[str] = mapped_column(String(200))
    # `whsec_` + base64: kept as is, since every payload is signed with it; shown once.
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by its owner, or by the deliverer after a day of failures (`disabled_by_failures`).
    disabled_at: Mapped[datetime | None]
    disabled_by_failures: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Since when every attempt has failed (None while it answers); decides the disabling.
    failing_since: Mapped[datetime | None]
    # While it fails, nothing more is tried before this time (the failed event's backoff).
    paused_until: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]

    @property
    def event_list(self) -> list[str]:
        return [name for name in self.events.split(",") if name]

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None


class WebhookDelivery(db.Model):
    """The outbox: one event for one endpoint, written in the transaction of the outcome it
    reports, then delivered (in id order per message and endpoint) by the workers."""

    __table_args__ = (
        Index("ix_webhook_delivery_state_due", "state", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_message", "endpoint_id", "message_id", "id"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(20))
    # The `webhook-id` header: one per event, the same on every retry (receivers de-duplicate).
    event_id: Mapped[str] = mapped_column(String(40))
    # The exact bytes sent (JSON), so every retry signs and sends the same body.
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Retries stop after this (a day after it was written, or after a replay).
    retry_until: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    endpoint: Mapped[WebhookEndpoint] = relationship(lazy="raise_on_sql")


class WebhookAttempt(db.Model):
    """One HTTP request of a delivery, with what the receiver answered."""

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    # The start of the answer's body, or what went wrong when there was none.
    response: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(String(300), default="")
    duration_ms: Mapped[int] = mapped_column(default=0)
    ok: Mapped[bool] = mapped_column(default=False)
