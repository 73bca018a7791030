"""`POST /api/v1/emails` and `GET /api/v1/emails/<id>`."""

from __future__ import annotations

from flask import current_app, jsonify
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from pydantic import ValidationError

from dashboard.api.blueprint import api
from dashboard.api.idempotency import bad_key, idempotent_request, key_refused, replay_headers
from dashboard.api.json_input import json_body
from dashboard.api.serialize import iso, message_out
from dashboard.auth import SENDER, VIEWER, requires
from dashboard.auth.hosts import public_url
from dashboard.auth.ownership import campaign_for
from dashboard.campaigns.email_merge import email_template_problems
from dashboard.campaigns.empty_fields import EmptyField, blank_merge_fields
from dashboard.campaigns.overview import campaign_messages
from dashboard.campaigns.templates import TemplateInputError
from dashboard.errors import api_error, invalid_fields
from dashboard.models import Campaign, IdempotencyKey
from dashboard.sending.field_errors import FieldError, field_errors
from dashboard.sending.idempotency import (
    Created,
    IdempotencyKeyBusy,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    create_once,
    json_request_hash,
)
from dashboard.sending.requests import EmailRequest, limits_context
from dashboard.sending.submission import submit_email


@api.post("/emails")
@requires(SENDER)
def create_email():
    data, error = json_body()
    if error:
        return error
    try:
        request_key = idempotent_request(lambda: json_request_hash("emails", data))
    except IdempotencyKeyInvalid as invalid:
        return bad_key(invalid)

    recipients: list[int] = []  # how many the request named, once it is validated
    warnings: list[EmptyField] = []

    def submit(idempotency_key: IdempotencyKey | None) -> Campaign:
        email = EmailRequest.model_validate(data, context=limits_context(current_app.config))
        if email.merge and (
            problems := email_template_problems(email.subject, email.text, email.html)
        ):
            raise TemplateInputError(problems)
        recipients.append(len(email.recipients))
        if email.merge:
            warnings.extend(blank_merge_fields(email))
        return submit_email(
            email,
            source="api",
            attachments=email.files,
            send_at=email.send_at,
            merge=email.merge,
            idempotency_key=idempotency_key,
            owner_id=current_user.id,
        )

    try:
        created = create_once(request_key, submit)
    except ValidationError as invalid:
        problems = {**_template_problems_in(data), **field_errors(invalid)}
        return invalid_fields(_("The email was not accepted"), problems)
    except TemplateInputError as invalid:
        return invalid_fields(_("The email was not accepted"), invalid.fields)
    except FieldError as invalid:  # send_at passed while the request was being read
        return invalid_fields("", {invalid.field: str(invalid)})
    except (IdempotencyKeyReused, IdempotencyKeyBusy) as refused:
        return key_refused(refused)
    if created.replayed:  # the same body as the first answer: its warnings found again
        warnings = _replayed_warnings(data)
    return _accepted(created, None if created.replayed else recipients[0], warnings)


def _template_problems_in(data: object) -> dict[str, str]:
    """The template's problems of a body asking for `merge` whose other fields were refused,
    read from its parts that are text."""
    if not isinstance(data, dict) or data.get("merge") is not True:
        return {}
    subject, text, html = (data.get(part) for part in ("subject", "text", "html"))
    return email_template_problems(
        subject if isinstance(subject, str) else "",
        text if isinstance(text, str) else "",
        html if isinstance(html, str) else None,
    )


def _replayed_warnings(data: object) -> list[EmptyField]:
    try:
        email = EmailRequest.model_validate(data, context=limits_context(current_app.config))
    except ValidationError:  # the limits changed since: the first answer stands without them
        return []
    return blank_merge_fields(email) if email.merge else []


def _warning(empty: EmptyField) -> dict:
    field = f"{{{{ {empty.variable} }}}}"
    total = empty.total or empty.rows
    return {
        "field": empty.variable,
        "empty_for": empty.rows,
        "recipients": total,
        "examples": list(empty.recipients),
        "message": ngettext(
            "%(field)s is empty for %(count)s of %(total)s recipients: those messages merge "
            "nothing there.",
            "%(field)s is empty for %(count)s of %(total)s recipients: those messages merge "
            "nothing there.",
            empty.rows,
            field=field,
            count=empty.rows,
            total=total,
        ),
    }


def _accepted(created: Created, recipients: int | None, warnings: list[EmptyField]):
    """The 202 of a submitted email. A repeated request gets the same body: it depends only on
    what the campaign was submitted as (its recipients counted again when not given)."""
    campaign = created.campaign
    status_url = public_url("api.get_email", campaign_id=campaign.id)
    response = jsonify(
        {
            "id": campaign.id,
            "status": "scheduled" if campaign.send_at else "queued",
            "recipients": campaign.progress().total if recipients is None else recipients,
            "status_url": status_url,
            "campaign_url": public_url("api.get_campaign", campaign_id=campaign.id),
            "send_at": iso(campaign.send_at),
            "warnings": [_warning(empty) for empty in warnings],
        }
    )
    return response, 202, {"Location": status_url, **replay_headers(created)}


@api.get("/emails/<int:campaign_id>")
@requires(VIEWER)
def get_email(campaign_id: int):
    campaign = campaign_for(current_user, campaign_id)
    if campaign is None:
        return api_error(404, _("There is no campaign with id %(id)s.", id=campaign_id))
    progress = campaign.progress()
    messages = campaign_messages(campaign_id)
    return jsonify(
        {
            "id": campaign.id,
            "status": progress.status,
            "subject": campaign.subject,
            "created_at": iso(campaign.created_at),
            "send_at": iso(campaign.send_at),
            "pause_reason": campaign.pause_reason,
            "total": progress.total,
            "counts": progress.as_dict(),
            "messages": [message_out(m) for m in messages],
        }
    )
