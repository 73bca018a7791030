"""The compose-and-send page."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from pydantic import ValidationError
from werkzeug.datastructures import FileStorage

from .forms import ComposeForm
from .mail.mime import AttachmentFile, guess_content_type, safe_filename
from .scheduling import check_send_at, display_zone, parse_local
from .schemas import EmailContent, FieldError, check_attachments, field_errors, limits_context
from .submission import default_sender, submit_email

compose = Blueprint("compose", __name__)

# Form field names as the rules in schemas.py call them.
_FORM_FIELDS = {
    "to": "to",
    "from": "sender",
    "subject": "subject",
    "text": "text",
    "html": "html",
    "attachments": "attachments",
    "send_at": "send_at",
}


def files_from_uploads(uploads: list[FileStorage]) -> list[AttachmentFile]:
    """Uploaded files as attachments; empty file inputs are ignored."""
    files = []
    for upload in uploads:
        if upload and upload.filename:
            name = safe_filename(upload.filename)
            files.append(
                AttachmentFile(name, guess_content_type(name, upload.mimetype), upload.read())
            )
    return files


@compose.route("/", methods=["GET", "POST"])
def compose_page():
    form = ComposeForm()
    status = 200
    if form.validate_on_submit():
        try:
            content = EmailContent.model_validate(
                {
                    "to": form.to.data or "",
                    "from": form.sender.data or None,
                    "subject": form.subject.data or "",
                    "text": form.text.data or "",
                    "html": form.html.data or None,
                },
                context=limits_context(current_app.config),
            )
            files = files_from_uploads(form.attachments.data or [])
            check_attachments(files, current_app.config["MAX_ATTACHMENTS_BYTES"])
            send_at = (form.send_at.data or "").strip()
            campaign = submit_email(
                content,
                source="form",
                attachments=files,
                send_at=check_send_at(parse_local(send_at)) if send_at else None,
            )
        except ValidationError as error:
            _attach_errors(form, field_errors(error))
        except FieldError as error:
            _attach_errors(form, {error.field: str(error)})
        else:
            return redirect(url_for("jobs.detail", campaign_id=campaign.id))
        status = 422
    elif form.errors:
        status = 400
    return render_template(
        "compose.html", form=form, default_sender=default_sender(), zone=display_zone().key
    ), status


def _attach_errors(form: ComposeForm, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        field = getattr(form, _FORM_FIELDS.get(name, ""), None)
        if field is None:
            form.form_errors.append(f"{name}: {message}")
        else:
            field.errors = [*field.errors, message]
