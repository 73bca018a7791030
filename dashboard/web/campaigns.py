"""Campaign pages: the list of campaigns, one page per campaign whichever way it came in (a
composed email, an API call, a CSV: import progress, preview and Send, live progress with
pause/resume/cancel/retry, every recipient's state), the CSV upload, the invalid rows as a CSV.
The old /jobs/ addresses redirect here."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.auth import SENDER, VIEWER, requires
from dashboard.auth.ownership import campaign_for, owner_scope
from dashboard.campaigns.confirm import CampaignStateError, confirm_campaign
from dashboard.campaigns.control import cancel_campaign, resume_campaign, retry_failed
from dashboard.campaigns.drafts import delete_draft
from dashboard.campaigns.import_report import import_of, invalid_rows_download
from dashboard.campaigns.listing import campaign_page
from dashboard.campaigns.overview import campaign_messages, overview
from dashboard.campaigns.schemas import campaign_content
from dashboard.campaigns.templates import template_names
from dashboard.campaigns.upload import (
    CampaignInputError,
    create_csv_campaign,
    restart_import,
    too_large_upload,
    upload_limit,
)
from dashboard.extensions import csrf, db
from dashboard.mail.merge import readable_template
from dashboard.models import Campaign, Message, MessageTemplate, find_template
from dashboard.reporting.campaign_stats import CampaignRow, Throughput
from dashboard.reporting.message_view import html_preview_of
from dashboard.reporting.paging import page_cursor
from dashboard.sending.field_errors import FieldError
from dashboard.sending.holds import pause_campaign
from dashboard.sending.schedule import display_zone, parse_local, to_display
from dashboard.sending.submission import default_sender
from dashboard.web.forms import ActionForm, CsvCampaignForm
from dashboard.web.html_preview import html_preview
from dashboard.web.list_answers import list_answer, wants_list_only

campaigns = Blueprint("campaigns", __name__, url_prefix="/campaigns")


@campaigns.app_template_filter("campaign_title")
def campaign_title(campaign: Campaign | CampaignRow | Throughput) -> str:
    """A campaign's subject as a title: a merge subject's `{{ name }}` reads as the name in
    angle quotes; a plain subject exactly as typed (and sent). Statistics' rows have both too."""
    return readable_template(campaign.subject) if campaign.merge else campaign.subject


# Until this page was the one for every campaign, composed emails had theirs under /jobs/.
old_job_pages = Blueprint("jobs", __name__, url_prefix="/jobs")

ROWS_SHOWN = 500

MB = 1024 * 1024
_FORM_FIELDS = {"from": "sender", "template_id": "template_id"}


def saved_template(template_id: object) -> MessageTemplate | None:
    """The saved template picked in a form, or None when none was picked; 404 for an unknown one."""
    if template_id in (None, ""):
        return None
    return find_template(template_id) or abort(404, _("There is no such saved template."))


def _template_choices() -> list[tuple[str, str]]:
    return [("", _("— none —")), *((str(i), name) for i, name in template_names())]


@campaigns.route("/new", methods=["GET", "POST"])
@csrf.exempt  # the form's own token is checked below, after the larger upload limit is set
@requires(SENDER)
def new():
    request.max_content_length = upload_limit()
    try:
        form = CsvCampaignForm()
    except RequestEntityTooLarge:
        return render_template("error.html", status=413, message=too_large_upload()), 413
    status = 200
    if request.method == "GET" and request.args.get("template"):
        template = saved_template(request.args["template"])
        form.template_id.data = str(template.id)
        form.subject.data, form.text.data = template.subject, template.text_body
        form.html.data = template.html_body or ""
    if form.validate_on_submit():
        upload = form.file.data
        no_file = {} if upload and upload.filename else {"file": _("choose a CSV file to upload")}
        try:
            try:
                content = campaign_content(
                    {
                        "subject": form.subject.data or "",
                        "text": form.text.data or "",
                        "html": form.html.data or None,
                        "from": form.sender.data or None,
                    },
                    template=saved_template(form.template_id.data),
                    max_body_bytes=current_app.config["MAX_BODY_BYTES"],
                )
            except CampaignInputError as error:
                raise CampaignInputError({**no_file, **error.fields}) from None
            if no_file:
                raise CampaignInputError(no_file)
            campaign = create_csv_campaign(
                upload.stream,
                filename=upload.filename,
                content=content,
                source="csv",
                owner_id=current_user.id,
            )
        except CampaignInputError as error:
            _attach_errors(form, error.fields)
        else:
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        status = 422
    elif form.errors:
        status = 400
    return render_template(
        "campaign_new.html",
        form=form,
        default_sender=default_sender(),
        template_choices=_template_choices(),
        max_mb=current_app.config["CSV_MAX_UPLOAD_MB"],
        max_rows=current_app.config["CSV_MAX_ROWS"],
    ), status


def _attach_errors(form: CsvCampaignForm, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        field = getattr(form, _FORM_FIELDS.get(name, name), None)
        if field is None or name == "csrf_token":
            form.form_errors.append(message if name == "template" else f"{name}: {message}")
        else:
            field.errors = [*field.errors, message]


def _campaign(campaign_id: int, *, to_act: bool = False) -> Campaign:
    return campaign_for(current_user, campaign_id, to_act=to_act)


@campaigns.get("/")
@requires(VIEWER)
def index():
    """The newest campaigns, or the page `?before=` or `?after=` points at."""
    errors: dict[str, str] = {}
    before = page_cursor(request.args, "before", errors)
    after = page_cursor(request.args, "after", errors)
    page = campaign_page(owner_id=owner_scope(current_user), before=before, after=after)
    template = "partials/campaign_list.html" if wants_list_only() else "campaigns.html"
    return list_answer(render_template(template, page=page, errors=errors), errors)


@campaigns.get("/<int:campaign_id>")
@requires(VIEWER)
def detail(campaign_id: int):
    """The whole page, or only its live partial when HTMX polls it."""
    view = overview(_campaign(campaign_id))
    context = {
        "view": view,
        "campaign": view.campaign,
        "progress": view.progress,
        "messages": campaign_messages(campaign_id, ROWS_SHOWN),
        "rows_shown": ROWS_SHOWN,
        "action_form": ActionForm(),
        "zone": display_zone().key,
    }
    if request.headers.get("HX-Request"):
        return render_template("partials/campaign_live.html", **context)
    return render_template("campaign.html", **context)


_ACTIONS = {
    # The page's one "Paused" banner says it (with the reason); a flash would say it twice.
    "pause": (pause_campaign, None),
    "resume": (resume_campaign, _l("Resumed: %(n)s waiting message(s) queued again.")),
    "cancel": (cancel_campaign, _l("Cancelled: %(n)s message(s) will not be sent.")),
    "retry-failed": (retry_failed, _l("%(n)s failed message(s) queued for another try.")),
}


_ACTION_NAMES = "confirm, pause, resume, cancel, 'retry-failed', 'restart-import'"


@campaigns.post(f"/<int:campaign_id>/<any({_ACTION_NAMES}):action>")
@requires(SENDER)
def act(campaign_id: int, action: str):
    """Confirm (Send), pause, resume, cancel or retry the failed messages; back to the page."""
    campaign = _campaign(campaign_id, to_act=True)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, _("This form has expired; reload the page and press the button again."))
    try:
        if action == "restart-import":
            csv_import = import_of(campaign.id) or abort(404, _("This campaign has no file."))
            restart_import(csv_import)
            flash(_("The import was handed to the workers again."), "info")
        elif action == "confirm":
            typed = (request.form.get("send_at") or "").strip()
            send_at = parse_local(typed) if typed else None
            count = confirm_campaign(campaign, send_at)
            if send_at is None:
                flash(_("Sending %(count)s message(s).", count=format_decimal(count)), "info")
            else:
                when = to_display(campaign.send_at).strftime("%Y-%m-%d %H:%M %Z")
                flash(
                    _(
                        "%(count)s message(s) scheduled for %(when)s.",
                        count=format_decimal(count),
                        when=when,
                    ),
                    "info",
                )
        else:
            service, message = _ACTIONS[action]
            result = service(campaign)
            if message is not None:
                flash(str(message) % {"n": result if not isinstance(result, bool) else ""}, "info")
    except (CampaignStateError, FieldError) as error:
        flash(str(error), "error")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@campaigns.post("/<int:campaign_id>/delete")
@requires(SENDER)
def delete(campaign_id: int):
    """Delete a draft (an upload never sent) with its rows; back to the list."""
    campaign = _campaign(campaign_id, to_act=True)
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and press the button again."))
    try:
        count = delete_draft(campaign)
    except CampaignStateError as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    flash(_("Draft #%(id)s deleted, with its %(n)s row(s).", id=campaign_id, n=count), "ok")
    return redirect(url_for("campaigns.index"))


@campaigns.get("/<int:campaign_id>/invalid-rows.csv")
@requires(VIEWER)
def invalid_rows(campaign_id: int):
    csv_import = import_of(_campaign(campaign_id).id) or abort(404, _("This campaign has no file."))
    return invalid_rows_download(csv_import)


@campaigns.get("/<int:campaign_id>/preview/<int:message_id>")
@requires(VIEWER)
def preview(campaign_id: int, message_id: int):
    """One previewed message's HTML body alone, for the page's sandboxed iframe."""
    campaign = _campaign(campaign_id)
    message = db.session.get(Message, message_id)
    if message is None or message.campaign_id != campaign.id:
        abort(404, _("This campaign has no such message."))
    html = html_preview_of(message)
    if html is None:
        abort(404, _("This message has no HTML body."))
    return html_preview(html)


@old_job_pages.get("/")
@requires(VIEWER)
def old_list():
    return redirect(url_for("campaigns.index"), 301)


@old_job_pages.get("/<int:campaign_id>")
@requires(VIEWER)
def old_detail(campaign_id: int):
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id), 301)
