"""Rows as the API's JSON shapes (the models in `api/schemas.py` document them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dashboard.models import Message


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def message_out(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "to": message.to_address,
        "status": message.status,
        "attempts": message.attempts,
        "last_code": message.last_code,
        "last_reply": message.last_reply,
        "task_id": message.task_id,
        "sent_at": iso(message.sent_at),
    }
