"""The audit trail page: admins only, filterable, keyset-paged like History."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from dashboard.auth.audit_trail import ACTIONS, AuditFilter, audit_page
from dashboard.auth.roles import ADMIN, requires
from dashboard.reporting.paging import page_cursor

audit_pages = Blueprint("audit", __name__, url_prefix="/audit")


@audit_pages.get("/")
@requires(ADMIN)
def index():
    found, errors = AuditFilter.from_args(request.args)
    page = audit_page(
        found,
        before=page_cursor(request.args, "before", errors),
        after=page_cursor(request.args, "after", errors),
    )
    status = 422 if errors else 200
    return render_template(
        "auth/audit.html", found=found, errors=errors, page=page, actions=ACTIONS
    ), status
