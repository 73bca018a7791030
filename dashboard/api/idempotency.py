"""The API's side of `Idempotency-Key`: the header and the user into a request for
`sending.idempotency`, and its refusals into answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.errors import api_error
from dashboard.sending.idempotency import (
    HEADER,
    KEY_LIFETIME,
    MAX_KEY_LENGTH,
    Created,
    IdempotencyKeyBusy,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequest,
    parse_key,
)

KEY_LIFETIME_HOURS = int(KEY_LIFETIME.total_seconds() // 3600)

REPLAYED_HEADER = "Idempotent-Replayed"


def idempotent_request(request_hash: Callable[[], str]) -> IdempotentRequest | None:
    """The request's key for the signed-in user (None without the header), with the hash of what
    was asked (computed only when there is a key); IdempotencyKeyInvalid for a header that is
    not a key."""
    key = parse_key(request.headers.getlist(HEADER))
    if key is None:
        return None
    return IdempotentRequest(user_id=current_user.id, key=key, request_hash=request_hash())


def bad_key(invalid: IdempotencyKeyInvalid):
    message = _("The %(header)s %(problem)s.", header=HEADER, problem=invalid)
    return api_error(400, message, fields={HEADER: str(invalid)})


def key_refused(refused: IdempotencyKeyReused | IdempotencyKeyBusy):
    if isinstance(refused, IdempotencyKeyBusy):
        return api_error(409, str(refused), code="idempotency_key_in_progress")
    return api_error(
        422, str(refused), fields={HEADER: str(refused)}, code="idempotency_key_reused"
    )


def replay_headers(created: Created) -> dict[str, str]:
    """Marks the answer to a repeated request (as Stripe's `Idempotent-Replayed`)."""
    return {REPLAYED_HEADER: "true"} if created.replayed else {}


def key_parameter() -> dict[str, Any]:
    """The header's entry in an operation's `parameters` (OpenAPI)."""
    return {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "A unique string per request, such as a UUID. Sent again with the same "
        f"request within {KEY_LIFETIME_HOURS} h, it answers with the first request's campaign "
        f"(202, the same id and status_url, `{REPLAYED_HEADER}: true`) instead of creating a "
        "second; with a different request it is refused (422); while the first is still being "
        "stored, a duplicate waits for it (409 if that takes too long). Keys belong to the "
        "signed-in user.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            # Printable ASCII but the comma and the double quote; bare or as a quoted string.
            "pattern": r'^(?:[ !#-+\--~]+|"[ !#-+\--~]+")$',
        },
        "example": "8e03978e-40d5-43e8-bc93-6894a57f9324",
    }


def replayed_header() -> dict[str, Any]:
    """The answer's `Idempotent-Replayed` header (OpenAPI)."""
    return {
        REPLAYED_HEADER: {
            "description": "`true` when the answer is that of an earlier request with the same "
            f"{HEADER}; absent otherwise.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    }
