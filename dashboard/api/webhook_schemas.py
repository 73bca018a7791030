"""What `/api/v1/webhooks` takes and answers: pydantic models that validate the requests and
generate the OpenAPI document. The rules beyond types live in `webhooks/endpoints.py`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EventName = Literal["sent", "failed", "bounced", "complained", "unsubscribed"]


class WebhookCreate(BaseModel):
    """`POST /api/v1/webhooks`: a new endpoint for your campaigns' events."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http(s) URL the events are posted to.")
    events: list[str] = Field(
        max_length=5,
        description="Events to receive: sent, failed, bounced, complained, unsubscribed.",
    )
    description: str = Field(default="", max_length=200)


class WebhookUpdate(BaseModel):
    """`PATCH /api/v1/webhooks/{id}`: what is given changes; `enabled: true` also forgets the
    endpoint's failures, so its waiting events go out."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, max_length=5)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class WebhookOut(BaseModel):
    """An endpoint (never its secret, which is shown once, at creation)."""

    id: int
    url: str
    description: str
    events: list[EventName]
    enabled: bool
    disabled_by_failures: bool = Field(
        description="Disabled by the deliverer after a day in which every attempt failed."
    )
    failing_since: str | None = Field(description="UTC; None while it answers.")
    last_success_at: str | None
    created_at: str
    pending: int = Field(description="Events waiting for their (next) attempt.")
    delivered: int
    failed: int = Field(description="Events whose retries were used up (replay them).")


class WebhookCreated(WebhookOut):
    """The answer to `POST /api/v1/webhooks` (201)."""

    secret: str = Field(
        description="The signing secret (`whsec_...`): shown this once, keep it to verify "
        "the `webhook-signature` header."
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


WEBHOOK_MODELS = [
    (WebhookCreate, "validation"),
    (WebhookUpdate, "validation"),
    (WebhookOut, "serialization"),
    (WebhookCreated, "serialization"),
    (WebhookList, "serialization"),
]


def webhook_paths(ref, json, errors) -> dict:
    """The OpenAPI paths of the webhook endpoints (helpers passed in by `openapi.py`)."""
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

    def body(model: str) -> dict:
        return {"required": True, "content": {"application/json": {"schema": ref(model)}}}

    return {
        "/webhooks": {
            "get": {
                "operationId": "listWebhooks",
                "summary": "Your webhook endpoints",
                "responses": {"200": json("WebhookList", "Your endpoints")},
            },
            "post": {
                "operationId": "createWebhook",
                "summary": "Register an endpoint; the answer holds its signing secret, once",
                "requestBody": body("WebhookCreate"),
                "responses": {
                    "201": json("WebhookCreated", "Created"),
                    **errors(400, 415, 422),
                },
            },
        },
        "/webhooks/{id}": {
            "get": {
                "operationId": "getWebhook",
                "summary": "One of your endpoints, with its events' counts by state",
                "parameters": [id_param],
                "responses": {"200": json("WebhookOut", "The endpoint"), **errors(404)},
            },
            "patch": {
                "operationId": "updateWebhook",
                "summary": "Change its URL, events or description; disable or enable it",
                "parameters": [id_param],
                "requestBody": body("WebhookUpdate"),
                "responses": {
                    "200": json("WebhookOut", "The endpoint"),
                    **errors(400, 404, 415, 422),
                },
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete it, with its waiting events and its attempt log",
                "parameters": [id_param],
                "responses": {"204": {"description": "Deleted"}, **errors(404)},
            },
        },
        "/webhooks/{id}/replay": {
            "post": {
                "operationId": "replayWebhook",
                "summary": "Send its failed events again, each with a new day of retries",
                "parameters": [id_param],
                "responses": {"200": json("WebhookOut", "The endpoint"), **errors(404)},
            }
        },
    }
