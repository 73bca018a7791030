"""The audit trail: who did what, when, from where. Written by `record_event`, which the
services call in the same transaction as the action they record (it adds a row to the session;
the service's own commit writes both). Never a secret in it: no password, no token, no body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.extensions import db
from dashboard.models.base import utcnow

MAX_DETAIL_CHARS = 500
# Every action the services record; recording another is a mistake (the trail's filters and
# labels know these).
ACTIONS = (
    "sign-in",
    "sign-in-failed",
    "sign-out",
    "sessions-ended",
    "password-changed",
    "password-set",
    "user-created",
    "user-disabled",
    "user-enabled",
    "role-changed",
    "token-created",
    "token-revoked",
    "sent",
    "scheduled",
    "rescheduled",
    "paused",
    "resumed",
    "cancelled",
    "retried",
    "suppressed",
    "unsuppressed",
    "account-added",
    "account-changed",
    "account-removed",
    "pool-added",
    "pool-changed",
    "pool-removed",
    "webhook-created",
    "webhook-enabled",
    "webhook-disabled",
    "webhook-deleted",
    "webhook-replayed",
    "draft-deleted",
)
_KNOWN_ACTIONS = frozenset(ACTIONS)


class AuditEvent(db.Model):
    """One thing a person (or the system) did that someone may later ask about."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The user who acted (None: the console, a worker, a recipient's unsubscribe link), and
    # their address as it was then (a user's address may change; the trail must not).
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200), default="")  # "campaign 12", "user 5"
    detail: Mapped[str] = mapped_column(String(MAX_DETAIL_CHARS), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_audit_event_action_id", "action", "id"),)


def record_event(
    action: str,
    target: str = "",
    detail: str = "",
    *,
    actor_id: int | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Add an event to the session (the caller's commit writes it with the action). The actor
    is the signed-in user of this request unless given; outside a request it is "system"."""
    event = AuditEvent(**event_values(action, target, detail, actor_id=actor_id, actor=actor))
    db.session.add(event)
    return event


def event_values(
    action: str,
    target: str = "",
    detail: str = "",
    *,
    actor_id: int | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """An event's column values, as `record_event` stores them (for a Core INSERT)."""
    if action not in _KNOWN_ACTIONS:
        raise ValueError(f"{action!r} is not an audit action (dashboard/models/audit.py)")
    if actor is None:
        signed_in = g.get("audit_actor") if has_request_context() else None
        actor_id, actor = (
            signed_in if signed_in else (None, "" if has_request_context() else "system")
        )
    return {
        "actor_id": actor_id,
        "actor": actor[:320],
        "action": action,
        "target": target[:200],
        "detail": detail[:MAX_DETAIL_CHARS],
        "ip": (request.remote_addr or "")[:64] if has_request_context() else "",
    }
