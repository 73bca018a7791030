"""`POST /api/v1/emails` and `GET /api/v1/emails/<id>`."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user
from pydantic import ValidationError

from dashboard.api.blueprint import api
from dashboard.api.serialize import iso, message_out
from dashboard.auth import SENDER, VIEWER, requires
from dashboard.auth.hosts import public_url
from dashboard.auth.ownership import campaign_for
from dashboard.campaigns.overview import campaign_messages
from dashboard.errors import api_error
from dashboard.sending.field_errors import FieldError, field_errors
from dashboard.sending.requests import EmailRequest, limits_context
from dashboard.sending.submission import submit_email


def json_body() -> tuple[object | None, tuple | None]:
    """The request's JSON, or the API error to answer instead."""
    if not request.is_json:
        return None, api_error(415, "Send the body as JSON with Content-Type: application/json.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        return None, api_error(400, "The JSON body is nested too deeply.")
    if data is None:
        return None, api_error(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        return None, api_error(422, "The body must be a JSON object.")
    return data, None


@api.post("/emails")
@requires(SENDER)
def create_email():
    data, error = json_body()
    if error:
        return error
    try:
        email = EmailRequest.model_validate(data, context=limits_context(current_app.config))
    except ValidationError as invalid:
        fields = field_errors(invalid)
        return api_error(
            422,
            "The email was not accepted: "
            + "; ".join(f"{name}: {message}" for name, message in fields.items()),
            fields=fields,
        )
    try:
        campaign = submit_email(
            email,
            source="api",
            attachments=email.files,
            send_at=email.send_at,
            owner_id=current_user.id,
        )
    except FieldError as invalid:  # send_at passed while the request was being read
        return api_error(422, f"{invalid.field}: {invalid}", fields={invalid.field: str(invalid)})
    status_url = public_url("api.get_email", campaign_id=campaign.id)
    response = jsonify(
        {
            "id": campaign.id,
            "status": "scheduled" if campaign.send_at else "queued",
            "recipients": len(email.recipients),
            "status_url": status_url,
            "campaign_url": public_url("api.get_campaign", campaign_id=campaign.id),
            "send_at": iso(campaign.send_at),
        }
    )
    return response, 202, {"Location": status_url}


@api.get("/emails/<int:campaign_id>")
@requires(VIEWER)
def get_email(campaign_id: int):
    campaign = campaign_for(current_user, campaign_id)
    if campaign is None:
        return api_error(404, f"There is no campaign with id {campaign_id}.")
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
