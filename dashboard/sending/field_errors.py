"""A problem with one named field, and pydantic's errors as `{field: message}`: how every
form, API endpoint and CLI verb reports every field's problem at once, in the asker's
language."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from pydantic import ValidationError

from dashboard.sending.stored_texts import translated


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
            message = pydantic_message(item)
        # The mail layer words its refusals in English: shown in the asker's language.
        fields.setdefault(name, translated(message))
    return fields


def pydantic_message(item: Any) -> str:
    """One of pydantic's own errors in people's words (our validators' words pass through:
    they are translated where they are raised)."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if kind == "value_error":
        return item["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return _("this field is required")
    if kind == "extra_forbidden":
        return _("this field is not permitted here (check its spelling)")
    if kind in {"string_type", "string_unicode"}:
        return _("must be a valid string (text in quotes)")
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return _("must be a whole number")
    if kind in {"float_type", "float_parsing", "decimal_type", "decimal_parsing"}:
        return _("must be a number")
    if kind in {"bool_type", "bool_parsing"}:
        return _("must be true or false")
    if kind in {"list_type", "tuple_type", "set_type"}:
        return _("must be a list (a JSON array)")
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return _("must be an object (a JSON object with named fields)")
    if kind in {"datetime_type", "datetime_parsing", "datetime_from_date_parsing", "date_parsing"}:
        return _("must be a date and time like 2026-12-01T09:30:00+07:00")
    if kind in {"url_type", "url_parsing", "url_scheme", "url_syntax_violation"}:
        return _("must be a web address starting with http:// or https://")
    if kind == "string_too_short":
        return _("must be at least %(n)s characters long", n=ctx.get("min_length"))
    if kind == "string_too_long":
        return _("must be at most %(n)s characters long", n=ctx.get("max_length"))
    if kind == "too_short":
        return _("must have at least %(n)s items", n=ctx.get("min_length"))
    if kind == "too_long":
        return _("must have at most %(n)s items", n=ctx.get("max_length"))
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        return {
            "greater_than_equal": _("must be %(n)s or more", n=bound),
            "greater_than": _("must be more than %(n)s", n=bound),
            "less_than_equal": _("must be %(n)s or less", n=bound),
            "less_than": _("must be less than %(n)s", n=bound),
        }[kind]
    if kind in {"literal_error", "enum"}:
        return _("must be one of: %(choices)s", choices=ctx.get("expected", ""))
    if kind == "string_pattern_mismatch":
        return _("is not in the expected form")
    return _("is not valid (%(detail)s)", detail=item["msg"])
