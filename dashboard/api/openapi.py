"""The OpenAPI 3.1 document, generated from the pydantic models that validate requests."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic.json_schema import models_json_schema

from dashboard.api.account_openapi import ACCOUNT_MODELS, account_paths
from dashboard.api.audit import AuditPageOut
from dashboard.api.blueprint import api
from dashboard.api.campaign_openapi import CAMPAIGN_MODELS, campaign_paths
from dashboard.api.idempotency import key_parameter, replayed_header
from dashboard.api.schemas import EmailAccepted, EmailStatus, ErrorResponse, TaskStatus
from dashboard.api.stats_schemas import StatsResponse
from dashboard.api.webhook_schemas import WEBHOOK_MODELS, webhook_paths
from dashboard.auth import VIEWER, requires
from dashboard.auth.api_docs import add_bearer_auth
from dashboard.sending.requests import EmailRequest

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Malformed request",
        404: "Not found",
        409: "Conflict (see error.message)",
        413: "Request too large",
        415: "Not JSON",
        422: "Invalid fields (see error.fields)",
    }
    return {str(status): _json("ErrorResponse", texts[status]) for status in statuses}


def _query_parameters(*described: tuple[str, str]) -> list[dict[str, Any]]:
    """Optional string query parameters, each with its description."""
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": text,
        }
        for name, text in described
    ]


def build_openapi() -> dict[str, Any]:
    """Assemble the document; the schemas come straight from the pydantic models that validate
    requests and shape answers (`sending/requests.py`, `api/schemas.py`)."""
    _, definitions = models_json_schema(
        [
            (EmailRequest, "validation"),
            (EmailAccepted, "serialization"),
            (EmailStatus, "serialization"),
            (TaskStatus, "serialization"),
            (ErrorResponse, "serialization"),
            (StatsResponse, "serialization"),
            (AuditPageOut, "serialization"),
            *CAMPAIGN_MODELS,
            *WEBHOOK_MODELS,
            *ACCOUNT_MODELS,
        ],
        ref_template=_REF,
    )
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Email dispatcher API",
            "version": "1.0.0",
            "description": "Submit email for delivery by the Celery workers and follow it.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/emails": {
                "post": {
                    "operationId": "createEmail",
                    "summary": "Queue an email to one or more recipients",
                    "parameters": [key_parameter()],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("EmailRequest")}},
                    },
                    "responses": {
                        "202": {
                            **_json("EmailAccepted", "Accepted; follow status_url"),
                            "headers": {
                                "Location": {"schema": {"type": "string"}},
                                **replayed_header(),
                            },
                        },
                        **_errors(400, 413, 415, 422),
                        "409": _json(
                            "ErrorResponse",
                            "The first request with this Idempotency-Key is still in progress; "
                            "retry with the same key",
                        ),
                    },
                }
            },
            "/emails/{id}": {
                "get": {
                    "operationId": "getEmail",
                    "summary": "A campaign's status, counts by state and each message's state",
                    "parameters": [id_param],
                    "responses": {"200": _json("EmailStatus", "The campaign"), **_errors(404)},
                }
            },
            "/tasks/{task_id}": {
                "get": {
                    "operationId": "getTask",
                    "summary": "A Celery batch task's state and its messages",
                    "parameters": [
                        {
                            "name": "task_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json("TaskStatus", "The task"), **_errors(404)},
                }
            },
            "/stats": {
                "get": {
                    "operationId": "getStats",
                    "summary": "Totals, rates, sent/failed series, failures by reason, campaigns",
                    "parameters": _query_parameters(
                        ("range", "24h, 7d (the default), 30d or 90d"),
                        ("since", "Start, in `zone`: 2026-11-01 or 2026-11-01T10:30"),
                        ("until", "End, in `zone`, inclusive: 2026-11-30 or 2026-11-30T18:00"),
                        ("unit", "Bucket of the series: hour or day of `zone`"),
                        ("zone", "IANA time zone of the range and buckets (default UTC)"),
                    ),
                    "responses": {"200": _json("StatsResponse", "The numbers"), **_errors(422)},
                }
            },
            "/audit": {
                "get": {
                    "operationId": "getAudit",
                    "summary": "The audit trail, newest first (admins only); follow `older`",
                    "parameters": _query_parameters(
                        ("actor", "The start of the actor's address"),
                        ("action", "One action, e.g. sign-in-failed, cancelled, token-created"),
                        ("target", "What it was done to, e.g. campaign 12"),
                        ("since", "Start, UTC: 2026-11-01 or 2026-11-01T10:30"),
                        ("until", "End, UTC, inclusive: 2026-11-30 or 2026-11-30T18:00"),
                        ("before", "The page cursor given as `older`"),
                    ),
                    "responses": {"200": _json("AuditPageOut", "Events"), **_errors(422)},
                }
            },
            **campaign_paths(_ref, _json, _errors),
            **webhook_paths(_ref, _json, _errors),
            **account_paths(_ref, _json, _errors),
        },
        "components": {"schemas": definitions["$defs"]},
    }


@api.get("/openapi.json")
@requires(VIEWER)
def openapi_document():
    return jsonify(add_bearer_auth(build_openapi()))
