"""A problem with one named field, and pydantic's errors as `{field: message}`: how every
form, API endpoint and CLI verb reports every field's problem at once."""

from __future__ import annotations

from pydantic import ValidationError


class FieldError(ValueError):
    """A problem with one named field, raised inside validators and by `check_attachments`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def field_error(field: str, message: str) -> FieldError:
    """A FieldError to raise inside a pydantic validator (it keeps the field's name)."""
    return FieldError(field, message)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Pydantic's errors as `{field: message a person can act on}`."""
    fields: dict[str, str] = {}
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            name, message = cause.field, str(cause)
        else:
            name = ".".join(str(part) for part in item["loc"]) or "body"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "missing":
                message = "this field is required"
        fields.setdefault(name, message)
    return fields
