"""Sending the outbox: the beat job that signs each due event (Standard Webhooks) and posts it.

Per endpoint and message, events go in the order they were written: an event waits while an
earlier one of its message is still pending for that endpoint. A failure (no answer, a timeout,
anything but 2xx, a redirect: never followed) retries with exponential backoff until a day after
the event, and holds the endpoint's other events until then; an endpoint that has failed every
attempt for a day is disabled. Every attempt is logged with its status code, the start of the
answer and its duration.

Several workers may run it at once: a row is claimed by one conditional UPDATE before it is sent.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased
from standardwebhooks import Webhook

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from dashboard.webhooks.targets import TargetError, check_public_host

log = logging.getLogger(__name__)

# Rows read per round; a run goes round after round until nothing is due or its time is up.
ROUND_SIZE = 100
MAX_ROUNDS = 1000
RESPONSE_KEPT_BYTES = 500
USER_AGENT = "email-dispatcher-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    response: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failed ones: base·2^(n-1), capped, with up
    to a tenth of jitter so many failed events do not all come back at once."""
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return delay * (1 + random.random() / 10)  # spreading, not a secret


def deliver_due(config: Mapping[str, Any]) -> dict[str, int]:
    """Send what is due, round after round, for at most WEBHOOK_RUN_SECONDS; returns counts."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    deadline = time.monotonic() + float(config["WEBHOOK_RUN_SECONDS"])
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    skipped: set[int] = set()  # endpoints that failed in this run wait for the next one
    with httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for _ in range(MAX_ROUNDS):
            due = _due(skipped)
            db.session.rollback()  # end the read: SQLite writers must not wait on it
            if not due:
                break
            for delivery_id, attempts in due:
                if time.monotonic() > deadline:
                    return counts
                claimed = _claim(delivery_id, attempts, skipped, lease=timeout * 3 + 30)
                if claimed is None:
                    continue
                claimed, endpoint = claimed
                result = post(client, endpoint, claimed, config)
                state = _record(claimed.id, endpoint.id, result, config)
                counts[state] += 1
                if not result.ok:
                    skipped.add(endpoint.id)
    return counts


def _due(skipped: set[int]) -> list[tuple[int, int]]:
    """The due rows' ids and attempt counts, oldest first: enabled endpoints not pausing after a
    failure, and no earlier event of the same message still pending for the same endpoint."""
    now = utcnow()
    earlier = aliased(WebhookDelivery)
    waits = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.message_id == WebhookDelivery.message_id,
        earlier.id < WebhookDelivery.id,
        earlier.state == DeliveryState.PENDING,
    )
    query = (
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.disabled_at.is_(None),
            or_(WebhookEndpoint.paused_until.is_(None), WebhookEndpoint.paused_until <= now),
            ~waits,
        )
        .order_by(WebhookDelivery.id)
        .limit(ROUND_SIZE)
    )
    if skipped:
        query = query.where(WebhookDelivery.endpoint_id.not_in(sorted(skipped)))
    return [(row.id, row.attempts) for row in db.session.execute(query)]


def _claim(
    delivery_id: int, attempts: int, skipped: set[int], *, lease: float
) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """Take the row for this attempt (one conditional UPDATE: another worker that read it too
    finds it taken); it comes back due after `lease` if this worker dies meanwhile. Returns the
    row and its endpoint, detached (no transaction stays open during the HTTP call)."""
    now = utcnow()
    with transaction():
        taken = db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.endpoint_id.not_in(sorted(skipped) or [0]),
                WebhookDelivery.state == DeliveryState.PENDING,
                WebhookDelivery.attempts == attempts,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=lease))
        ).rowcount
    if not taken:
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
    for row in (delivery, endpoint):
        if row is not None:
            db.session.expunge(row)
    db.session.rollback()
    return (delivery, endpoint) if delivery and endpoint else None


def post(
    client: httpx.Client,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    config: Mapping[str, Any],
) -> AttemptResult:
    """One signed POST of the delivery's payload to the endpoint; never raises."""
    body = delivery.payload.encode("utf-8")
    sent_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.event_id, sent_at, body),
    }
    started = time.monotonic()

    def done(code: int | None, response: str = "", error: str = "") -> AttemptResult:
        return AttemptResult(code, response, error[:300], int((time.monotonic() - started) * 1000))

    if not config["WEBHOOK_ALLOW_PRIVATE_TARGETS"]:
        parts = urlsplit(endpoint.url)
        try:  # checked again at each send: a name can be pointed elsewhere after it was added
            check_public_host(parts.hostname or "", parts.port or 443)
        except TargetError as error:
            return done(None, error=f"not sent: {error}")
    try:
        with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
            kept = b""
            for chunk in response.iter_bytes():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT_BYTES:
                    break
            text = kept[:RESPONSE_KEPT_BYTES].decode("utf-8", "replace")
            if response.is_redirect:  # never followed, whichever host it names
                return done(response.status_code, text, "a redirect (not followed)")
            return done(response.status_code, text)
    except httpx.TimeoutException:
        return done(None, error="no answer in time")
    except httpx.HTTPError as error:
        return done(None, error=f"{type(error).__name__}: {error}")


def _record(
    delivery_id: int, endpoint_id: int, result: AttemptResult, config: Mapping[str, Any]
) -> str:
    """Log the attempt and move the delivery and its endpoint on; returns the delivery's fate:
    delivered, retrying or failed."""
    now = utcnow()
    with transaction():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        if delivery is None or endpoint is None:  # deleted meanwhile
            return "failed"
        event = delivery.event
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                at=now,
                status_code=result.status_code,
                response=result.response,
                error=result.error,
                duration_ms=result.duration_ms,
                ok=result.ok,
            )
        )
        if result.ok:
            delivery.state = DeliveryState.DELIVERED
            delivery.delivered_at = now
            endpoint.failing_since = None
            endpoint.paused_until = None
            endpoint.last_success_at = now
            fate = "delivered"
        else:
            fate = _failed(delivery, endpoint, now, config)
    log.info(
        "webhook endpoint=%s delivery=%s event=%s code=%s duration_ms=%s fate=%s",
        endpoint_id,
        delivery_id,
        event,
        result.status_code if result.status_code is not None else "-",
        result.duration_ms,
        fate,
    )
    return fate


def _failed(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    now: datetime,
    config: Mapping[str, Any],
) -> str:
    delay = retry_delay(
        delivery.attempts,
        base=float(config["WEBHOOK_RETRY_BASE_SECONDS"]),
        cap=float(config["WEBHOOK_RETRY_MAX_SECONDS"]),
    )
    next_at = now + timedelta(seconds=delay)
    if next_at > delivery.retry_until:
        delivery.state = DeliveryState.FAILED
        delivery.next_attempt_at = now
        fate = "failed"
    else:
        delivery.next_attempt_at = next_at
        fate = "retrying"
    endpoint.failing_since = endpoint.failing_since or now
    endpoint.paused_until = next_at
    failing_for = (now - endpoint.failing_since).total_seconds()
    if failing_for >= float(config["WEBHOOK_DISABLE_AFTER_SECONDS"]):
        endpoint.disabled_at = now
        endpoint.disabled_by_failures = True
        log.warning("webhook endpoint=%s disabled after failing for %ds", endpoint.id, failing_for)
    return fate
