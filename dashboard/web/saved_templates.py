"""Saved templates: create, edit, preview and reuse a subject and bodies with {{ variables }}."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from dashboard.auth import SENDER, VIEWER, requires
from dashboard.campaigns.templates import (
    TemplateInputError,
    all_templates,
    preview_template,
    save_template,
)
from dashboard.extensions import db
from dashboard.models import MessageTemplate
from dashboard.web.forms import TemplateForm
from dashboard.web.html_preview import html_preview

saved_templates = Blueprint("saved_templates", __name__, url_prefix="/templates")


@saved_templates.get("/")
@requires(VIEWER)
def index():
    templates = all_templates()
    return render_template("saved_templates.html", templates=templates)


@saved_templates.route("/new", methods=["GET", "POST"])
@saved_templates.route("/<int:template_id>/edit", methods=["GET", "POST"])
@requires(SENDER)
def edit(template_id: int | None = None):
    template = None
    if template_id is not None:
        template = db.session.get(MessageTemplate, template_id) or abort(
            404, _("No such template.")
        )
    form = TemplateForm(obj=None)
    if request.method == "GET" and template is not None:
        form.name.data, form.subject.data = template.name, template.subject
        form.text.data, form.html.data = template.text_body, template.html_body or ""
    status = 200
    if form.validate_on_submit():
        try:
            saved = save_template(
                template,
                name=form.name.data or "",
                subject=form.subject.data or "",
                text=form.text.data or "",
                html=form.html.data or None,
            )
        except TemplateInputError as error:
            for name, message in error.fields.items():
                field = getattr(form, name, None) or form.text
                field.errors = [*field.errors, message]
            status = 422
        else:
            return redirect(url_for("saved_templates.show", template_id=saved.id))
    elif form.errors:
        status = 400
    return render_template("saved_template_edit.html", form=form, template=template), status


@saved_templates.get("/<int:template_id>")
@requires(VIEWER)
def show(template_id: int):
    template = db.session.get(MessageTemplate, template_id) or abort(404, _("No such template."))
    preview, variables = preview_template(template)
    return render_template(
        "saved_template.html", template=template, preview=preview, variables=variables
    )


@saved_templates.get("/<int:template_id>/preview")
@requires(VIEWER)
def preview(template_id: int):
    """The previewed HTML body alone, for the page's sandboxed iframe."""
    template = db.session.get(MessageTemplate, template_id) or abort(404, _("No such template."))
    rendered, _unused = preview_template(template)
    html = rendered.get("html")
    if not html:
        abort(404, _("This template has no HTML body to preview."))
    return html_preview(html)
