"""The API's answers about emails, tasks and errors: they shape the JSON and generate the
OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class MessageOut(BaseModel):
    id: int
    to: str
    status: Literal[
        "draft",
        "scheduled",
        "queued",
        "sending",
        "retrying",
        "sent",
        "failed",
        "cancelled",
        "bounced",
    ]
    attempts: int
    last_code: int | None
    last_reply: str | None
    task_id: str | None
    sent_at: str | None


class EmptyMergeField(BaseModel):
    """A merge field that merges nothing for some recipients: sent all the same, as asked."""

    field: str = Field(description="The variable, e.g. `name`.")
    empty_for: int = Field(description="How many recipients it is empty for.")
    recipients: int = Field(description="How many recipients the email has.")
    examples: list[str] = Field(description="The first few addresses it is empty for.")
    message: str = Field(description="The same warning in the requester's language.")


class EmailAccepted(BaseModel):
    """The answer to `POST /api/v1/emails` (202): the campaign the email became."""

    id: int = Field(description="The campaign's id: the same id on every page and endpoint.")
    status: str
    recipients: int
    status_url: str = Field(description="The campaign's status with each message's state.")
    campaign_url: str = Field(
        description="The campaign, as `GET /api/v1/campaigns/{id}` shows any campaign "
        "(pause, resume, cancel and retry-failed are under it)."
    )
    send_at: str | None = Field(default=None, description="When it is scheduled (UTC).")
    warnings: list[EmptyMergeField] = Field(
        default_factory=list,
        description="Merge fields that merge nothing for some recipients, such as "
        "`{{ name }}` for an address without a display name (Compose asks before sending).",
    )


class EmailStatus(BaseModel):
    """The answer to `GET /api/v1/emails/{id}`: a campaign with each message's state."""

    id: int
    status: str
    subject: str
    created_at: str
    send_at: str | None = None
    pause_reason: str | None = None
    total: int
    counts: dict[str, int]
    messages: list[MessageOut]


class TaskStatus(BaseModel):
    """The answer to `GET /api/v1/tasks/{task_id}`."""

    task_id: str
    state: str
    result: dict[str, Any] | None = None
    messages: list[MessageOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """Every API error has this shape."""

    error: ErrorBody
