"""Saved templates: create, edit, preview and reuse a subject and bodies with {{ variables }}."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dashboard.extensions import db
from dashboard.mail.merge import BUILTIN_VARIABLES, TemplateProblem, check_merge, compile_merge
from dashboard.models import MessageTemplate
from dashboard.sending.requests import text_from_html
from dashboard.web.campaign_forms import TemplateForm

saved_templates = Blueprint("saved_templates", __name__, url_prefix="/templates")


class TemplateInputError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def save_template(
    template: MessageTemplate | None, *, name: str, subject: str, text: str, html: str | None
) -> MessageTemplate:
    """Create or update a saved template after checking that it compiles in the sandbox."""
    problems: dict[str, str] = {}
    name, subject = name.strip(), subject.strip()
    if not name:
        problems["name"] = "a name is required"
    if not subject:
        problems["subject"] = "a subject is required"
    elif "\n" in subject or "\r" in subject:
        problems["subject"] = "the subject must be a single line"
    html = html if html and html.strip() else None
    if not text.strip() and not html:
        problems["text"] = "a text or an HTML body is required"
    if not problems:
        try:
            merge = compile_merge(subject, text or text_from_html(html or ""), html)
        except TemplateProblem as problem:
            problems[problem.field] = str(problem)
        else:  # every variable counts as a column here: only what the sandbox refuses is left
            for problem in check_merge(merge, merge.variables):
                problems.setdefault("text", str(problem))
    if problems:
        raise TemplateInputError(problems)
    template = template or MessageTemplate()
    template.name, template.subject = name[:200], subject
    template.text_body, template.html_body = text or text_from_html(html or ""), html
    db.session.add(template)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TemplateInputError({"name": f"a template called '{name}' exists already"}) from None
    return template


def preview_template(template: MessageTemplate) -> tuple[dict[str, str | None], list[str]]:
    """The template rendered with each variable shown as [name], and the variables it uses."""
    merge = compile_merge(template.subject, template.text_body, template.html_body)
    variables = sorted(merge.variables | {"email"})
    values = {name: f"[{name}]" for name in set(variables) | BUILTIN_VARIABLES}
    try:
        rendered = merge.render(values)
    except TemplateProblem as problem:
        return {"error": f"{problem.field}: {problem}"}, variables
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}, variables


@saved_templates.get("/")
def index():
    templates = db.session.scalars(select(MessageTemplate).order_by(MessageTemplate.name)).all()
    return render_template("saved_templates.html", templates=templates)


@saved_templates.route("/new", methods=["GET", "POST"])
@saved_templates.route("/<int:template_id>/edit", methods=["GET", "POST"])
def edit(template_id: int | None = None):
    template = None
    if template_id is not None:
        template = db.session.get(MessageTemplate, template_id) or abort(404, "No such template.")
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
def show(template_id: int):
    template = db.session.get(MessageTemplate, template_id) or abort(404, "No such template.")
    preview, variables = preview_template(template)
    return render_template(
        "saved_template.html", template=template, preview=preview, variables=variables
    )
