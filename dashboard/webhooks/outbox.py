"""The outbox: events written in the transaction of the outcome they report.

Whatever records an outcome (a send's result, an unsubscribe, a bounce, a complaint) calls
`enqueue_event` or `enqueue_events` with its own session, before its commit: the events commit
with the outcome or roll back with it, so none is lost and none invented. The beat's deliverer
(`delivery`) sends them afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dashboard.models import (
    Campaign,
    DeliveryState,
    Message,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    utcnow,
)

# Message ids per IN (...) query: well under every database's limit on bound parameters.
LOOKUP_CHUNK = 900
_INSERT = insert(WebhookDelivery.__table__)
# The send results that are events: a message left `retrying` has none yet.
_FINAL_EVENTS = (WebhookEvent.SENT.value, WebhookEvent.FAILED.value)


@dataclass(frozen=True)
class OutcomeEvent:
    """One event about one message: `data` adds to the payload's `data` (an SMTP code, a
    bounce's diagnostic, ...); `occurred_at` is when it happened (now if not given)."""

    message_id: int
    event: WebhookEvent | str
    data: Mapping[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None


def enqueue_event(
    session: Session,
    message: Message,
    kind: WebhookEvent | str,
    data: Mapping[str, Any] | None = None,
) -> int:
    """Add to `session` one outbox row per enabled endpoint of the message's campaign owner that
    asked for `kind` (sent, failed, bounced, complained, unsubscribed); returns how many.

    Call it inside the transaction that records the outcome, before its commit, with that
    transaction's session: the rows commit or roll back with the outcome. `data` goes into the
    payload's `data` beside the message's id, campaign and recipient (e.g. for a bounce:
    `{"bounce": "hard", "diagnostic_code": "smtp; 550 5.1.1 no such user"}`); keep it to JSON
    types. Events of one message reach each endpoint in the order they were enqueued.
    """
    return enqueue_events(session, [OutcomeEvent(message.id, kind, data or {})])


def enqueue_events(session: Session, events: Sequence[OutcomeEvent]) -> int:
    """`enqueue_event` for many messages at once (a chunk of a batch's results): one query
    finds the endpoints, one statement writes the rows. Returns how many rows were added."""
    if not events:
        return 0
    targets = _endpoints_by_message(session, {event.message_id for event in events})
    if not targets:
        return 0
    now = utcnow()
    retry_until = now + timedelta(seconds=float(current_app.config["WEBHOOK_RETRY_FOR_SECONDS"]))
    rows = []
    for event in events:
        found = targets.get(event.message_id)
        if found is None:
            continue
        campaign_id, to_address, endpoints = found
        kind = WebhookEvent(event.event)
        wanted = [endpoint_id for endpoint_id, names in endpoints if kind.value in names]
        if not wanted:
            continue
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = _payload(kind, event, campaign_id, to_address, event.occurred_at or now)
        rows.extend(
            {
                "endpoint_id": endpoint_id,
                "message_id": event.message_id,
                "event": kind.value,
                "event_id": event_id,
                "payload": payload,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "retry_until": retry_until,
            }
            for endpoint_id in wanted
        )
    if rows:
        session.execute(_INSERT, rows)
    return len(rows)


def _endpoints_by_message(
    session: Session, message_ids: Iterable[int]
) -> dict[int, tuple[int, str, list[tuple[int, set[str]]]]]:
    """Per message: its campaign, its recipient, and its owner's enabled endpoints with the
    events each asked for. Messages whose owner has none are left out."""
    wanted = sorted(message_ids)
    found: dict[int, tuple[int, str, list[tuple[int, set[str]]]]] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        rows = session.execute(
            select(
                Message.id,
                Message.campaign_id,
                Message.to_address,
                WebhookEndpoint.id,
                WebhookEndpoint.events,
            )
            .join(Campaign, Campaign.id == Message.campaign_id)
            .join(WebhookEndpoint, WebhookEndpoint.owner_id == Campaign.owner_id)
            .where(
                Message.id.in_(wanted[start : start + LOOKUP_CHUNK]),
                WebhookEndpoint.disabled_at.is_(None),
            )
            .order_by(Message.id, WebhookEndpoint.id)
        )
        for message_id, campaign_id, to_address, endpoint_id, events in rows:
            entry = found.setdefault(message_id, (campaign_id, to_address, []))
            entry[2].append((endpoint_id, set(events.split(","))))
    return found


def _payload(
    kind: WebhookEvent,
    event: OutcomeEvent,
    campaign_id: int,
    to_address: str,
    occurred_at: datetime,
) -> str:
    """The body every attempt sends, byte for byte (see docs/webhooks.md for its schema)."""
    data = {
        **event.data,
        "message_id": event.message_id,
        "campaign_id": campaign_id,
        "to": to_address,
    }
    body = {
        "type": f"message.{kind.value}",
        "timestamp": occurred_at.isoformat(timespec="milliseconds") + "Z",
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def enqueue_outcomes(session: Session, updates: Iterable[Mapping[str, Any]]) -> int:
    """The `sent` and `failed` events of a chunk of send results, for `sending.outcomes`:
    `updates` are the message rows' new columns as it writes them (`key`, `status`,
    `last_code`, `last_reply`); a message left `retrying` has no event yet."""
    # Most chunks of a campaign have no endpoint to tell: one small query says so.
    if not _any_endpoint(session):
        return 0
    final = [row for row in updates if row.get("status") in _FINAL_EVENTS]
    events = [
        OutcomeEvent(
            row["key"],
            WebhookEvent(row["status"]),
            {"smtp_code": row.get("last_code"), "smtp_reply": row.get("last_reply") or ""},
        )
        for row in final
    ]
    return enqueue_events(session, events)


def _any_endpoint(session: Session) -> bool:
    """Whether any endpoint is enabled, whoever owns it."""
    found = select(WebhookEndpoint.id).where(WebhookEndpoint.disabled_at.is_(None)).limit(1)
    return session.execute(found).first() is not None


def enqueue_failures(session: Session, message_ids: Iterable[int], reply: str) -> int:
    """The `failed` events of messages failed outside a batch's report (the sweeper giving up
    on a row, a batch task that crashed), in the transaction that fails them."""
    events = [
        OutcomeEvent(message_id, WebhookEvent.FAILED, {"smtp_code": None, "smtp_reply": reply})
        for message_id in message_ids
    ]
    return enqueue_events(session, events)
