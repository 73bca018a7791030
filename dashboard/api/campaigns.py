"""Campaigns over the API: `POST /api/v1/campaigns` (multipart: the CSV and the templates),
`GET /api/v1/campaigns` (the list, newest first, a page at a time), `GET /api/v1/campaigns/<id>`
(import progress, preview, counts, speed), and the actions."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.api.blueprint import api
from dashboard.api.idempotency import bad_key, idempotent_request, key_refused, replay_headers
from dashboard.api.json_input import json_body
from dashboard.api.serialize import iso
from dashboard.auth import SENDER, VIEWER, requires
from dashboard.auth.hosts import public_url
from dashboard.auth.ownership import campaign_for, owner_scope
from dashboard.campaigns.confirm import CampaignStateError, confirm_campaign
from dashboard.campaigns.control import cancel_campaign, resume_campaign, retry_failed
from dashboard.campaigns.import_report import import_of, invalid_rows_download
from dashboard.campaigns.listing import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    ListedCampaign,
    campaign_page,
)
from dashboard.campaigns.overview import overview, overview_json
from dashboard.campaigns.schemas import CampaignListOut, CampaignSummaryOut, campaign_content
from dashboard.campaigns.upload import (
    CampaignContent,
    CampaignInputError,
    create_csv_campaign,
    too_large_upload,
    upload_limit,
)
from dashboard.errors import api_error, invalid_fields
from dashboard.extensions import db
from dashboard.models import Campaign, IdempotencyKey, find_template
from dashboard.reporting.paging import page_cursor, whole_number
from dashboard.sending.field_errors import FieldError, field_errors
from dashboard.sending.holds import pause_campaign
from dashboard.sending.idempotency import (
    IdempotencyKeyBusy,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    create_once,
    upload_request_hash,
)
from dashboard.sending.requests import CampaignConfirm

LIST_PARAMETERS = ("before", "after", "limit")

_ACTIONS = {
    "pause": pause_campaign,
    "resume": resume_campaign,
    "cancel": cancel_campaign,
    "retry-failed": retry_failed,
}


def _invalid(fields: dict[str, str]):
    return invalid_fields(_("The campaign was not accepted"), fields)


def _urls(campaign_id: int) -> dict[str, str]:
    return {
        "status": public_url("api.get_campaign", campaign_id=campaign_id),
        "invalid_rows": public_url("api.campaign_invalid_rows", campaign_id=campaign_id),
    }


@api.post("/campaigns")
@requires(SENDER)
def create_campaign():
    request.max_content_length = upload_limit()
    if request.mimetype != "multipart/form-data":
        return api_error(
            415, _("Send the CSV and the templates as multipart/form-data (a 'file' part).")
        )
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        return api_error(413, too_large_upload())
    data = {key: request.form.get(key) for key in request.form}
    if upload is None or not upload.filename:
        no_file = {"file": _("the CSV file is required, as the multipart part 'file'")}
        try:
            _content(data)
        except CampaignInputError as error:
            return _invalid({**no_file, **error.fields})
        return _invalid(no_file)
    try:
        request_key = idempotent_request(
            lambda: upload_request_hash(
                "campaigns", upload.stream, upload.filename, request.form.items(multi=True)
            )
        )
    except IdempotencyKeyInvalid as invalid:
        return bad_key(invalid)

    def create(idempotency_key: IdempotencyKey | None) -> Campaign:
        return create_csv_campaign(
            upload.stream,
            filename=upload.filename,
            content=_content(data),
            source="api",
            idempotency_key=idempotency_key,
            owner_id=current_user.id,
        )

    try:
        created = create_once(request_key, create)
    except CampaignInputError as error:
        return _invalid(error.fields)
    except (IdempotencyKeyReused, IdempotencyKeyBusy) as refused:
        return key_refused(refused)
    # A repeated request gets the same campaign, shown as it is now (its import may have moved).
    urls = _urls(created.campaign.id)
    return (
        jsonify(overview_json(overview(created.campaign), urls)),
        202,
        {"Location": urls["status"], **replay_headers(created)},
    )


def _content(data: dict[str, Any]) -> CampaignContent:
    """The submission's content, the fields it leaves empty taken from its `template_id`;
    CampaignInputError names each bad field."""
    template = None
    if data.get("template_id"):
        template = find_template(data["template_id"])
        if template is None:
            raise CampaignInputError({"template_id": _("there is no saved template with this id")})
    return campaign_content(
        data, template=template, max_body_bytes=current_app.config["MAX_BODY_BYTES"]
    )


@api.get("/campaigns")
@requires(VIEWER)
def list_campaigns():
    errors: dict[str, str] = {}
    before = page_cursor(request.args, "before", errors)
    after = page_cursor(request.args, "after", errors)
    if before is not None and after is not None:
        errors["after"] = _("give before or after, not both")
    limit = _page_size(request.args.get("limit"), errors)
    for name in LIST_PARAMETERS:  # `?limit=` is a client's missing value, not "the default"
        if name in request.args and not request.args[name].strip():
            errors[name] = _("is empty: give a whole number, or leave it out")
    for name in sorted(set(request.args) - set(LIST_PARAMETERS)):
        errors[name[:40]] = _(
            "is not a parameter here; use %(names)s", names=", ".join(LIST_PARAMETERS)
        )
    if errors:
        return invalid_fields(_("The campaigns were not listed"), errors)
    page = campaign_page(
        owner_id=owner_scope(current_user), before=before, after=after, limit=limit
    )
    paging = {"limit": limit} if "limit" in request.args else {}
    body = CampaignListOut(
        campaigns=[_summary(row) for row in page.campaigns],
        older=None
        if page.older is None
        else public_url("api.list_campaigns", before=page.older, **paging),
        newer=None
        if page.newer is None
        else public_url("api.list_campaigns", after=page.newer, **paging),
    )
    return jsonify(body.model_dump())


def _page_size(raw: str | None, errors: dict[str, str]) -> int:
    if raw is None or not raw.strip():
        return PAGE_SIZE
    raw = raw.strip()
    if (size := whole_number(raw, MAX_PAGE_SIZE)) is not None and size >= 1:
        return size
    errors["limit"] = _(
        "'%(value)s' is not a page size: give a whole number from 1 to %(most)s",
        value=raw[:40],
        most=MAX_PAGE_SIZE,
    )
    return PAGE_SIZE


def _summary(row: ListedCampaign) -> CampaignSummaryOut:
    campaign, progress = row.campaign, row.progress
    return CampaignSummaryOut(
        id=campaign.id,
        status=row.status,
        subject=campaign.subject,
        source=campaign.source,
        created_at=iso(campaign.created_at) or "",
        total=progress.total,
        counts=progress.as_dict(),
        percent=progress.percent,
        paused=campaign.is_paused,
        cancelled=campaign.cancelled_at is not None,
        status_url=public_url("api.get_campaign", campaign_id=campaign.id),
    )


def _campaign_or_404(campaign_id: int, *, to_act: bool = False) -> Campaign:
    return campaign_for(current_user, campaign_id, to_act=to_act)


@api.get("/campaigns/<int:campaign_id>")
@requires(VIEWER)
def get_campaign(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    if campaign is None:
        return api_error(404, _("There is no campaign with id %(id)s.", id=campaign_id))
    return jsonify(overview_json(overview(campaign), _urls(campaign_id)))


@api.get("/campaigns/<int:campaign_id>/invalid-rows.csv")
@requires(VIEWER)
def campaign_invalid_rows(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    if campaign is None:
        return api_error(404, _("There is no campaign with id %(id)s.", id=campaign_id))
    csv_import = import_of(campaign_id)
    if csv_import is None:
        return api_error(404, _("Campaign %(id)s was not made from a file.", id=campaign_id))
    return invalid_rows_download(csv_import)


@api.post(
    "/campaigns/<int:campaign_id>/<any(confirm, pause, resume, cancel, 'retry-failed'):action>"
)
@requires(SENDER)
def campaign_action(campaign_id: int, action: str):
    campaign = _campaign_or_404(campaign_id, to_act=True)
    if campaign is None:
        return api_error(404, _("There is no campaign with id %(id)s.", id=campaign_id))
    send_at = None
    if action == "confirm" and request.content_length:  # an optional {"send_at": ...}
        data, error = json_body()
        if error:
            return error
        try:
            send_at = CampaignConfirm.model_validate(data).send_at
        except ValidationError as invalid:
            return _invalid(field_errors(invalid))
    try:
        if action == "confirm":
            affected = confirm_campaign(campaign, send_at)
        else:
            affected = _ACTIONS[action](campaign)
    except CampaignStateError as error:
        return api_error(409, str(error), code="conflict")
    except FieldError as error:
        return _invalid({error.field: str(error)})
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    return jsonify(
        {
            "id": campaign_id,
            "action": action,
            "affected": int(affected),
            "status": overview(campaign, with_preview=False).status,
        }
    )
