"""The history pages: every message, filtered from the URL; one message's detail; its actions;
the filtered list as CSV."""

from __future__ import annotations

from dataclasses import replace

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth import SENDER, VIEWER, requires
from dashboard.auth.ownership import message_for, owner_scope
from dashboard.campaigns.message_control import MessageActionRefused, cancel_message, retry_message
from dashboard.models import (
    CANCELLABLE_STATUSES,
    DeliveryAttempt,
    MessageStatus,
    utcnow,
)
from dashboard.reporting.history import (
    HistoryFilter,
    campaign_choices,
    history_page,
    iter_history,
    message_with_attempts,
    status_choices,
)
from dashboard.reporting.history_export import csv_lines
from dashboard.reporting.message_view import html_preview_of, render_message
from dashboard.reporting.paging import page_cursor
from dashboard.sending.schedule import display_zone
from dashboard.web.html_preview import html_preview
from dashboard.web.list_answers import list_answer, wants_list_only

history = Blueprint("history", __name__, url_prefix="/history")


@history.get("/")
@requires(VIEWER)
def index():
    """The full page, or only the results table when HTMX swaps it in."""
    found, errors = HistoryFilter.from_args(request.args, zone=display_zone())
    found = replace(found, owner_id=owner_scope(current_user))
    before = page_cursor(request.args, "before", errors)
    after = page_cursor(request.args, "after", errors)
    page = history_page(found, before=before, after=after)
    context = {"found": found, "errors": errors, "page": page}
    if wants_list_only():
        html = render_template("partials/history_table.html", oob_field_errors=True, **context)
    else:
        campaigns = campaign_choices(owner_id=owner_scope(current_user))
        html = render_template(
            "history.html", statuses=status_choices(), campaigns=campaigns, **context
        )
    return list_answer(html, errors)


@history.get("/export.csv")
@requires(VIEWER)
def export():
    """The filtered list as CSV, streamed in keyset chunks however long it is."""
    found, errors = HistoryFilter.from_args(request.args, zone=display_zone())
    found = replace(found, owner_id=owner_scope(current_user))
    if errors:
        message = "; ".join(f"{name}: {text}" for name, text in errors.items())
        abort(422, _("The export was not made: %(problem)s.", problem=message))
    filename = f"history-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(
        stream_with_context(csv_lines(iter_history(found))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@history.get("/<int:message_id>")
@requires(VIEWER)
def detail(message_id: int):
    message_for(current_user, message_id)
    message = message_with_attempts(message_id) or abort(404, _("There is no such message."))
    attempts: list[DeliveryAttempt] = message.attempts_log
    return render_template(
        "message_detail.html",
        message=message,
        attempts=attempts,
        rendered=render_message(message),
        can_retry=message.status == MessageStatus.FAILED and message.campaign.cancelled_at is None,
        can_cancel=message.status in CANCELLABLE_STATUSES,
    )


@history.get("/<int:message_id>/preview")
@requires(VIEWER)
def preview(message_id: int):
    """The HTML body alone, for the detail page's sandboxed iframe."""
    message = message_for(current_user, message_id)
    html = html_preview_of(message)
    if html is None:
        abort(404, _("This message has no HTML body."))
    return html_preview(html)


def _act(message_id: int, action, done: str):
    message = message_for(current_user, message_id, to_act=True)
    try:
        action(message)
    except MessageActionRefused as refused:
        flash(str(refused), "error")
    else:
        flash(done, "ok")
    return redirect(url_for("history.detail", message_id=message_id), code=303)


@history.post("/<int:message_id>/retry")
@requires(SENDER)
def retry(message_id: int):
    return _act(message_id, retry_message, _("The message is queued to be sent again."))


@history.post("/<int:message_id>/cancel")
@requires(SENDER)
def cancel(message_id: int):
    return _act(message_id, cancel_message, _("The message is cancelled; it will not be sent."))
