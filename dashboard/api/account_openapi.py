"""The sending accounts' part of the OpenAPI document (merged by `openapi.build_openapi`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dashboard.sending.accounts.schemas import AccountIn, AccountOut, AccountsOut, PoolIn, PoolOut

ACCOUNT_MODELS: list[tuple[type[BaseModel], str]] = [
    (AccountIn, "validation"),
    (AccountOut, "serialization"),
    (AccountsOut, "serialization"),
    (PoolIn, "validation"),
    (PoolOut, "serialization"),
]


def account_paths(ref, json_response, errors) -> dict[str, Any]:
    """Paths for listing, adding, changing and removing sending accounts and pools (admins)."""

    def body(model: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": ref(model)}}}

    def id_param(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}

    gone = {"204": {"description": "Removed"}, "409": json_response("ErrorResponse", "In use")}
    return {
        "/accounts": {
            "get": {
                "operationId": "listAccounts",
                "summary": "The sending accounts and pools (admins; secrets never shown)",
                "responses": {"200": json_response("AccountsOut", "Accounts and pools")},
            },
            "post": {
                "operationId": "createAccount",
                "summary": "Add a sending account; its secrets are sealed and never shown again",
                "requestBody": body("AccountIn"),
                "responses": {
                    "201": json_response("AccountOut", "Added"),
                    **errors(400, 415, 422),
                },
            },
        },
        "/accounts/{id}": {
            "put": {
                "operationId": "updateAccount",
                "summary": "Change a sending account (secrets left out keep their value)",
                "parameters": [id_param("id")],
                "requestBody": body("AccountIn"),
                "responses": {
                    "200": json_response("AccountOut", "Changed"),
                    **errors(400, 404, 415, 422),
                },
            },
            "delete": {
                "operationId": "deleteAccount",
                "summary": "Remove a sending account no pool or campaign names",
                "parameters": [id_param("id")],
                "responses": {**gone, **errors(404)},
            },
        },
        "/pools": {
            "post": {
                "operationId": "createPool",
                "summary": "Add a pool of sending accounts",
                "requestBody": body("PoolIn"),
                "responses": {"201": json_response("PoolOut", "Added"), **errors(400, 415, 422)},
            }
        },
        "/pools/{id}": {
            "put": {
                "operationId": "updatePool",
                "summary": "Change a pool's name or accounts",
                "parameters": [id_param("id")],
                "requestBody": body("PoolIn"),
                "responses": {
                    "200": json_response("PoolOut", "Changed"),
                    **errors(400, 404, 415, 422),
                },
            },
            "delete": {
                "operationId": "deletePool",
                "summary": "Remove a pool no campaign names",
                "parameters": [id_param("id")],
                "responses": {**gone, **errors(404)},
            },
        },
    }
