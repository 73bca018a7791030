"""Endpoints: registered, changed, enabled, disabled, deleted and replayed by their owner. The
Webhooks page, the API and tests call these; each user sees and changes only their own."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.mail.headers import HeaderInjectionError, check_header_value
from dashboard.models import (
    DeliveryState,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    record_event,
    utcnow,
)
from dashboard.webhooks.targets import TargetError, check_target

SECRET_PREFIX = "whsec_"
MAX_DESCRIPTION_CHARS = 200
EVENTS = tuple(event.value for event in WebhookEvent)


class EndpointError(ValueError):
    """Bad input: every field's problem at once, by field name."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {text}" for name, text in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class NewEndpoint:
    """An endpoint just created: `secret` is shown to its owner once, then only used to sign."""

    endpoint: WebhookEndpoint
    secret: str


def new_secret() -> str:
    """`whsec_` and 24 random bytes in base64, the Standard Webhooks form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _checked(
    url: str | None,
    events: Iterable[str] | None,
    description: str | None,
    config: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields given, checked: the clean values, and every problem by field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if url is not None:
        try:
            values["url"] = check_target(
                url, allow_private=bool(config["WEBHOOK_ALLOW_PRIVATE_TARGETS"])
            )
        except TargetError as error:
            errors["url"] = str(error)
    if events is not None:
        chosen = [str(name).strip().lower() for name in events if str(name).strip()]
        unknown = sorted(set(chosen) - set(EVENTS))
        if unknown:
            errors["events"] = _(
                "unknown event(s): %(unknown)s; choose among %(known)s",
                unknown=", ".join(unknown)[:200],
                known=", ".join(EVENTS),
            )
        elif not chosen:
            errors["events"] = _("choose at least one event")
        else:
            values["events"] = ",".join(name for name in EVENTS if name in chosen)
    if description is not None:
        description = description.strip()
        try:
            check_header_value(description)  # its own sentence below, not the header's
        except HeaderInjectionError:
            errors["description"] = _(
                "the description must be a single line, without control characters"
            )
        if len(description) > MAX_DESCRIPTION_CHARS:
            errors["description"] = _("at most %(n)s characters", n=MAX_DESCRIPTION_CHARS)
        values["description"] = description
    return values, errors


def create_endpoint(
    owner: User,
    url: str | None,
    events: Iterable[str] | None,
    description: str | None,
    config: Mapping[str, Any],
) -> NewEndpoint:
    """Register an endpoint for `owner`'s campaigns; EndpointError names every bad field."""
    values, errors = _checked(url or "", events or [], description or "", config)
    limit = int(config["WEBHOOK_MAX_ENDPOINTS_PER_USER"])
    if not errors and len(endpoints_of(owner)) >= limit:
        errors["url"] = _("you have %(n)s endpoints already; delete one first", n=limit)
    if errors:
        raise EndpointError(errors)
    secret = new_secret()
    with transaction():
        endpoint = WebhookEndpoint(owner_id=owner.id, secret=secret, **values)
        db.session.add(endpoint)
        db.session.flush()
        record_event("webhook-created", f"webhook {endpoint.id}", endpoint.url[:300])
    return NewEndpoint(endpoint, secret)


def update_endpoint(
    endpoint: WebhookEndpoint,
    config: Mapping[str, Any],
    *,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given (None leaves it); EndpointError names every bad field."""
    values, errors = _checked(url, events, description, config)
    if errors:
        raise EndpointError(errors)
    with transaction():
        for name, value in values.items():
            setattr(endpoint, name, value)
        if enabled is not None:
            _set_enabled(endpoint, enabled)
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> WebhookEndpoint:
    """Disable (events stop being written for it) or enable again (its failures forgotten)."""
    with transaction():
        _set_enabled(endpoint, enabled)
    return endpoint


def _set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> None:
    if enabled and endpoint.disabled_at is not None:
        endpoint.disabled_at = None
        endpoint.disabled_by_failures = False
        endpoint.failing_since = None
        endpoint.paused_until = None
        record_event("webhook-enabled", f"webhook {endpoint.id}")
    elif not enabled and endpoint.disabled_at is None:
        endpoint.disabled_at = utcnow()
        record_event("webhook-disabled", f"webhook {endpoint.id}")


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Delete it with its outbox and attempts."""
    with transaction():
        record_event("webhook-deleted", f"webhook {endpoint.id}", endpoint.url[:300])
        db.session.delete(endpoint)


def endpoints_of(owner: User) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.owner_id == owner.id)
            .order_by(WebhookEndpoint.id)
        )
    )


def endpoint_of(owner: User, endpoint_id: int) -> WebhookEndpoint | None:
    """The endpoint if it is `owner`'s (someone else's is as good as missing)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.owner_id == owner.id else None


def disabled_by_failures(owner: User) -> list[WebhookEndpoint]:
    """The owner's endpoints the deliverer disabled: the pages show a notice for each."""
    return [endpoint for endpoint in endpoints_of(owner) if endpoint.disabled_by_failures]


@dataclass(frozen=True)
class EndpointActivity:
    """What the endpoint's page shows: its latest events, latest attempts and counts by state."""

    deliveries: list[WebhookDelivery]
    attempts: list[tuple[WebhookAttempt, WebhookDelivery]]
    counts: dict[str, int]


def activity_of(endpoint: WebhookEndpoint, limit: int = 50) -> EndpointActivity:
    deliveries = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
    attempts = [
        (attempt, delivery)
        for attempt, delivery in db.session.execute(
            select(WebhookAttempt, WebhookDelivery)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(WebhookAttempt.endpoint_id == endpoint.id)
            .order_by(WebhookAttempt.id.desc())
            .limit(limit)
        )
    ]
    return EndpointActivity(deliveries, attempts, delivery_counts(endpoint))


def delivery_counts(endpoint: WebhookEndpoint) -> dict[str, int]:
    """How many of the endpoint's events are pending, delivered and failed."""
    counts = {state.value: 0 for state in DeliveryState}
    for state, count in db.session.execute(
        select(WebhookDelivery.state, func.count())
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .group_by(WebhookDelivery.state)
    ):
        counts[state] = count
    return counts


def replay(endpoint: WebhookEndpoint, delivery_id: int | None, config: Mapping[str, Any]) -> int:
    """Send again one event of the endpoint (delivered or failed), or, with `delivery_id` None,
    every failed one; each gets a new day of retries. Returns how many were queued."""
    now = utcnow()
    window = timedelta(seconds=float(config["WEBHOOK_RETRY_FOR_SECONDS"]))
    statement = (
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .values(state=DeliveryState.PENDING, next_attempt_at=now, retry_until=now + window)
    )
    if delivery_id is None:
        statement = statement.where(WebhookDelivery.state == DeliveryState.FAILED)
    else:
        statement = statement.where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.state != DeliveryState.PENDING
        )
    with transaction():
        count = db.session.execute(statement).rowcount
        if count:
            endpoint.paused_until = None
            record_event("webhook-replayed", f"webhook {endpoint.id}", f"{count} event(s)")
    return count
