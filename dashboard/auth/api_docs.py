"""The API's OpenAPI document says how to authenticate: a bearer token, 401 without one, 403
when its user's role is not enough."""

from __future__ import annotations

from typing import Any

UNAUTHORIZED = {
    "description": "No valid API token (see WWW-Authenticate)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}

FORBIDDEN = {
    "description": "The token's user lacks the role this needs (viewer < sender < admin), "
    "or the campaign is not theirs to change",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def add_bearer_auth(document: dict[str, Any]) -> dict[str, Any]:
    """Declare bearer auth for every operation and its 401 answer (operations added later too)."""
    document.setdefault("components", {}).setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from the API tokens page or `flask tokens create`.",
    }
    document["security"] = [{"bearerAuth": []}]
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("401", UNAUTHORIZED)
                operation["responses"].setdefault("403", FORBIDDEN)
    return document
