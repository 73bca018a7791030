"""Webhook endpoints over the API: `/api/v1/webhooks` (list, create) and `/api/v1/webhooks/<id>`
(read, change, delete, replay the failed events). The same services as the Webhooks page."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, jsonify
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import ValidationError

from dashboard.api.blueprint import api
from dashboard.api.json_input import json_body
from dashboard.api.webhook_schemas import WebhookCreate, WebhookUpdate
from dashboard.auth import SENDER, requires
from dashboard.errors import api_error, invalid_fields
from dashboard.models import WebhookEndpoint
from dashboard.sending.field_errors import field_errors
from dashboard.webhooks.endpoints import (
    EndpointError,
    create_endpoint,
    delete_endpoint,
    delivery_counts,
    endpoint_of,
    endpoints_of,
    replay,
    update_endpoint,
)


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def webhook_json(endpoint: WebhookEndpoint) -> dict[str, object]:
    counts = delivery_counts(endpoint)
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.event_list,
        "enabled": endpoint.is_enabled,
        "disabled_by_failures": endpoint.disabled_by_failures,
        "failing_since": _time(endpoint.failing_since),
        "last_success_at": _time(endpoint.last_success_at),
        "created_at": _time(endpoint.created_at),
        **counts,
    }


def _invalid(fields: dict[str, str]):
    return invalid_fields(_("The webhook was not accepted"), fields)


def _missing():
    return api_error(404, _("There is no such webhook."))


@api.get("/webhooks")
@requires(SENDER)
def list_webhooks():
    return jsonify({"webhooks": [webhook_json(e) for e in endpoints_of(current_user)]})


@api.post("/webhooks")
@requires(SENDER)
def create_webhook():
    data, error = json_body()
    if error:
        return error
    try:
        given = WebhookCreate.model_validate(data)
        created = create_endpoint(
            current_user, given.url, given.events, given.description, current_app.config
        )
    except ValidationError as invalid:
        return _invalid(field_errors(invalid))
    except EndpointError as bad:
        return _invalid(bad.errors)
    body = {**webhook_json(created.endpoint), "secret": created.secret}
    return jsonify(body), 201, {"Cache-Control": "no-store"}


@api.get("/webhooks/<int:endpoint_id>")
@requires(SENDER)
def get_webhook(endpoint_id: int):
    endpoint = endpoint_of(current_user, endpoint_id)
    return jsonify(webhook_json(endpoint)) if endpoint else _missing()


@api.patch("/webhooks/<int:endpoint_id>")
@requires(SENDER)
def update_webhook(endpoint_id: int):
    endpoint = endpoint_of(current_user, endpoint_id)
    if endpoint is None:
        return _missing()
    data, error = json_body()
    if error:
        return error
    try:
        given = WebhookUpdate.model_validate(data)
        update_endpoint(
            endpoint,
            current_app.config,
            url=given.url,
            events=given.events,
            description=given.description,
            enabled=given.enabled,
        )
    except ValidationError as invalid:
        return _invalid(field_errors(invalid))
    except EndpointError as bad:
        return _invalid(bad.errors)
    return jsonify(webhook_json(endpoint))


@api.delete("/webhooks/<int:endpoint_id>")
@requires(SENDER)
def delete_webhook(endpoint_id: int):
    endpoint = endpoint_of(current_user, endpoint_id)
    if endpoint is None:
        return _missing()
    delete_endpoint(endpoint)
    return "", 204


@api.post("/webhooks/<int:endpoint_id>/replay")
@requires(SENDER)
def replay_webhook(endpoint_id: int):
    endpoint = endpoint_of(current_user, endpoint_id)
    if endpoint is None:
        return _missing()
    replay(endpoint, None, current_app.config)
    return jsonify(webhook_json(endpoint))
