"""The compose-and-send page."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import ValidationError
from werkzeug.datastructures import FileStorage

from dashboard.auth import SENDER, requires
from dashboard.campaigns.email_merge import email_template_problems
from dashboard.campaigns.empty_fields import EmptyField, blank_merge_fields
from dashboard.mail.attachments import AttachmentFile, guess_content_type, safe_filename
from dashboard.mail.merge import uses_merge_syntax
from dashboard.models import find_template
from dashboard.sending.field_errors import FieldError, field_errors
from dashboard.sending.kept_uploads import UploadsGone
from dashboard.sending.requests import (
    EmailContent,
    check_attachments,
    file_name_problem,
    limits_context,
)
from dashboard.sending.schedule import check_send_at, display_zone, parse_local
from dashboard.sending.submission import default_sender, submit_email
from dashboard.web.forms import ComposeForm
from dashboard.web.kept_files import (
    files_still_chosen,
    forget_kept,
    gone_message,
    keep_for_next_submit,
    kept_again,
)

compose = Blueprint("compose", __name__)

# Form field names as the rules in sending/requests.py call them.
_FORM_FIELDS = {
    "to": "to",
    "from": "sender",
    "subject": "subject",
    "text": "text",
    "html": "html",
    "attachments": "attachments",
    "send_at": "send_at",
    "account": "account",
}


def files_from_uploads(uploads: list[FileStorage]) -> list[AttachmentFile]:
    """Uploaded files as attachments; empty file inputs are ignored."""
    files = []
    for upload in uploads:
        if upload and upload.filename:
            if problem := file_name_problem(upload.filename):
                raise FieldError("attachments", problem)
            name = safe_filename(upload.filename)
            files.append(
                AttachmentFile(name, guess_content_type(name, upload.mimetype), upload.read())
            )
    return files


@compose.route("/", methods=["GET", "POST"])
@requires(SENDER)
def compose_page():
    form = ComposeForm()
    if form.validate_on_submit():
        # Every field is checked, so the person sees all that is wrong at once.
        errors: dict[str, str] = {}
        content, files, send_at_utc = None, [], None
        try:
            content = EmailContent.model_validate(
                {
                    "to": form.to.data or "",
                    "from": form.sender.data or None,
                    "subject": form.subject.data or "",
                    "text": form.text.data or "",
                    "html": form.html.data or None,
                    "account": (form.account.data or "").strip() or None,
                },
                context=limits_context(current_app.config),
            )
        except ValidationError as error:
            errors.update(field_errors(error))
        try:
            files = files_still_chosen(form.kept_files, current_user.id)
        except UploadsGone:
            errors["attachments"] = gone_message()
        try:
            files = [*files, *files_from_uploads(form.attachments.data or [])]
            check_attachments(files, current_app.config["MAX_ATTACHMENTS_BYTES"])
        except FieldError as error:
            errors.setdefault(error.field, str(error))
        try:
            send_at = (form.send_at.data or "").strip()
            send_at_utc = check_send_at(parse_local(send_at)) if send_at else None
        except FieldError as error:
            errors[error.field] = str(error)
        if errors or content is None:
            # A template's own problems too, beside those of the other fields.
            parts = (form.subject.data or "", form.text.data or "", form.html.data or None)
            if uses_merge_syntax(*parts):
                errors = {**email_template_problems(*parts), **errors}
            _attach_errors(form, errors)
        else:
            parts = (content.subject, content.text, content.html)
            merge = uses_merge_syntax(*parts)
            problems = email_template_problems(*parts) if merge else {}
            warnings = [] if problems or form.send_anyway.data else blank_merge_fields(content)
            if warnings:  # shown, with a box to tick, before anything is sent
                return _shown_again(form, files, warnings), 422
            if not problems:
                try:
                    campaign = submit_email(
                        content,
                        source="form",
                        attachments=files,
                        send_at=send_at_utc,
                        merge=merge,
                        owner_id=current_user.id,
                    )
                except FieldError as error:  # the account named cannot send as this sender
                    problems = {error.field: str(error)}
                else:
                    forget_kept(form.kept_files, current_user.id)  # in the database now
                    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
            _attach_errors(form, problems)
        return _shown_again(form, files), 422
    if form.errors:  # refused by WTForms itself, before the fields are read: files stay kept
        kept = kept_again(form.kept_files, form.attachments, current_user.id)
        return render_compose(form, (), kept), 400
    if request.method == "GET" and request.args.get("template"):
        prefill_from_template(form, request.args["template"])
    return render_compose(form)


@compose.route("/compose/warnings", methods=["POST"])
@requires(SENDER)
def warnings() -> str:
    """The warnings Compose would give at Send, asked (by htmx) as the fields change."""
    form = ComposeForm()
    try:
        content = EmailContent.model_validate(
            {
                "to": form.to.data or "",
                "subject": form.subject.data or "",
                "text": form.text.data or "",
                "html": form.html.data or None,
            },
            context=limits_context(current_app.config),
        )
    except ValidationError:  # Send will say what is wrong; nothing to warn of yet
        return render_template("partials/compose_warnings.html", form=form, warnings=[])
    return render_template(
        "partials/compose_warnings.html", form=form, warnings=blank_merge_fields(content)
    )


def render_compose(
    form: ComposeForm,
    warnings: Sequence[EmptyField] = (),
    kept: Sequence[AttachmentFile] = (),
) -> str:
    return render_template(
        "compose.html",
        form=form,
        warnings=warnings,
        kept=kept,
        default_sender=default_sender(),
        zone=display_zone().key,
    )


def _shown_again(
    form: ComposeForm, files: Sequence[AttachmentFile], warnings: Sequence[EmptyField] = ()
) -> str:
    """The form again, its files kept for the next Send (a browser cannot put them back)."""
    kept = keep_for_next_submit(form.kept_files, form.attachments, current_user.id, files)
    return render_compose(form, warnings, kept)


def prefill_from_template(form: ComposeForm, template_id: str) -> None:
    """Fill subject and bodies from a saved template (`/?template=<id>`)."""
    template = find_template(template_id)
    if template is None:
        abort(404, _("There is no such saved template."))
    form.subject.data, form.text.data = template.subject, template.text_body
    form.html.data = template.html_body or ""


def _attach_errors(form: ComposeForm, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        field = getattr(form, _FORM_FIELDS.get(name, ""), None)
        if field is None:
            form.form_errors.append(f"{name}: {message}")
        else:
            field.errors = [*field.errors, message]
