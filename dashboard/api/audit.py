"""`GET /api/v1/audit`: the audit trail as JSON, admins only, filtered and paged as the page is."""

from __future__ import annotations

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from pydantic import BaseModel, Field

from dashboard.api.blueprint import api
from dashboard.api.serialize import iso
from dashboard.auth import ADMIN, requires
from dashboard.auth.audit_trail import AuditFilter, audit_page
from dashboard.errors import invalid_fields
from dashboard.reporting.paging import page_cursor

AUDIT_PARAMETERS = ("actor", "action", "target", "since", "until", "before")


class AuditEventOut(BaseModel):
    id: int
    at: str = Field(description="UTC, ISO 8601")
    actor: str = Field(description="The address of who acted; empty for a stranger or a link")
    actor_id: int | None
    action: str
    target: str = Field(description='What it was done to, e.g. "campaign 12"')
    detail: str
    ip: str


class AuditPageOut(BaseModel):
    events: list[AuditEventOut] = Field(description="Newest first")
    older: str | None = Field(description="The next page (older events), or null")


@api.get("/audit")
@requires(ADMIN)
def get_audit():
    found, errors = AuditFilter.from_args(request.args)
    before = page_cursor(request.args, "before", errors)
    for name in sorted(set(request.args) - set(AUDIT_PARAMETERS)):
        errors[name[:40]] = _(
            "is not a parameter here; use %(names)s", names=", ".join(AUDIT_PARAMETERS)
        )
    if errors:
        return invalid_fields("", errors)
    page = audit_page(found, before=before)
    body = AuditPageOut(
        events=[
            AuditEventOut(
                id=event.id,
                at=iso(event.at) or "",
                actor=event.actor,
                actor_id=event.actor_id,
                action=event.action,
                target=event.target,
                detail=event.detail,
                ip=event.ip,
            )
            for event in page.events
        ],
        older=url_for("api.get_audit", before=page.older, **found.query_args())
        if page.older
        else None,
    )
    return jsonify(body.model_dump())
