"""Caught mail: what the embedded SMTP catcher received, shown safely; paged, counted and
searched; attachments downloaded under a safe name; one or all deleted."""

from __future__ import annotations

from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _

from dashboard.auth import ADMIN, requires
from dashboard.mail.attachments import safe_filename
from dashboard.mail.reading import preview_html
from dashboard.ops.caught_mail import (
    caught_attachment,
    caught_page,
    delete_all_caught,
    delete_caught,
    find_caught,
    parse_caught,
    search_problem,
)
from dashboard.reporting.paging import page_cursor
from dashboard.web.forms import ActionForm
from dashboard.web.html_preview import html_preview
from dashboard.web.list_answers import list_answer, wants_list_only

outbox = Blueprint("outbox", __name__, url_prefix="/outbox")

# Types a browser could run or render as a page: downloaded as plain bytes instead.
_ACTIVE_TYPES = ("html", "xml", "svg", "javascript", "ecmascript", "xhtml")


@outbox.get("/")
@requires(ADMIN)
def index():
    """The whole page, or only the list when HTMX polls or swaps it."""
    errors: dict[str, str] = {}
    search = (request.args.get("q") or "").strip()
    if problem := search_problem(search):
        errors["q"] = problem
        search = ""
    before = page_cursor(request.args, "before", errors)
    after = page_cursor(request.args, "after", errors)
    page = caught_page(search, before=before, after=after)
    context = {"page": page, "search": search, "errors": errors, "action_form": ActionForm()}
    template = "partials/outbox_list.html" if wants_list_only() else "outbox.html"
    return list_answer(render_template(template, **context), errors)


def _found(mail_id: int):
    return find_caught(mail_id) or abort(404, _("There is no such caught message."))


@outbox.get("/<int:mail_id>")
@requires(ADMIN)
def detail(mail_id: int):
    view = parse_caught(_found(mail_id))
    return render_template("outbox_detail.html", view=view, action_form=ActionForm())


@outbox.get("/<int:mail_id>/raw")
@requires(ADMIN)
def raw(mail_id: int):
    mail = _found(mail_id)
    return Response(mail.raw, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})


@outbox.get("/<int:mail_id>/preview")
@requires(ADMIN)
def preview(mail_id: int):
    """The HTML body alone, for the detail page's sandboxed iframe."""
    html = preview_html(_found(mail_id).raw)
    if html is None:
        abort(404, _("This message has no HTML body."))
    return html_preview(html)


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and RFC 6266's `filename*`: the name's last path
    component, no control characters (so no CR/LF), no quote or backslash to break out."""
    name = safe_filename(filename).replace('"', "_")
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in "\\;%" else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@outbox.get("/<int:mail_id>/attachments/<int:index>")
@requires(ADMIN)
def attachment(mail_id: int, index: int):
    """One attachment, decoded, always as a download: never shown inline, never sniffed."""
    part = caught_attachment(_found(mail_id), index) or abort(
        404, _("There is no such attachment.")
    )
    content_type = part.content_type
    if any(kind in content_type for kind in _ACTIVE_TYPES):
        content_type = "application/octet-stream"
    return Response(
        part.data,
        mimetype=content_type,
        headers={
            "Content-Disposition": content_disposition(part.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


def _checked_form() -> None:
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and press the button again."))


@outbox.post("/<int:mail_id>/delete")
@requires(ADMIN)
def delete(mail_id: int):
    _checked_form()
    if delete_caught(mail_id):
        flash(_("The caught message was deleted."), "info")
    else:
        flash(_("That caught message was already gone."), "error")
    return redirect(url_for("outbox.index"), 303)


@outbox.post("/delete-all")
@requires(ADMIN)
def delete_all():
    _checked_form()
    count = delete_all_caught()
    flash(_("%(count)s caught message(s) deleted.", count=format_decimal(count)), "info")
    return redirect(url_for("outbox.index"), 303)
