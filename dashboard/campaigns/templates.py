"""Saved templates: a subject and bodies with {{ variables }}, checked in the merge sandbox before
they are stored, and previewed with each variable shown as [name]."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dashboard.extensions import db
from dashboard.mail.merge import BUILTIN_VARIABLES, TemplateProblem, check_merge, compile_merge
from dashboard.models import MessageTemplate
from dashboard.sending.requests import body_nul_problem, one_line_problem, text_from_html
from dashboard.sending.stored_texts import template_field_problems, template_problem, translated

#: As long as the column holds (a longer name is refused, not cut).
MAX_NAME_CHARS = 200


class TemplateInputError(ValueError):
    """What is wrong with a template, every field at once."""

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
        problems["name"] = _("a name is required")
    elif len(name) > MAX_NAME_CHARS:
        problems["name"] = _("at most %(count)s characters", count=MAX_NAME_CHARS)
    elif problem := one_line_problem(name, _("the name")):
        problems["name"] = problem
    if not subject:
        problems["subject"] = _("a subject is required")
    elif problem := one_line_problem(subject, _("the subject")):
        problems["subject"] = problem
    html = html if html and html.strip() else None
    if not text.strip() and not html:
        problems["text"] = _("a text or an HTML body is required")
    for field, body in (("text", text), ("html", html)):
        if problem := body_nul_problem(body):
            problems[field] = problem
    try:
        merge = compile_merge(subject, text or text_from_html(html or ""), html)
    except TemplateProblem as problem:
        # A field's own problem above (empty, a NUL) is said first.
        problems = {**template_field_problems(problem), **problems}
    else:  # every variable counts as a column here: only what the sandbox refuses is left
        for problem in check_merge(merge, merge.variables):
            problems.setdefault("text", translated(str(problem)))
    if problems:
        raise TemplateInputError(problems)
    template = template or MessageTemplate()
    template.name, template.subject = name, subject
    template.text_body, template.html_body = text or text_from_html(html or ""), html
    db.session.add(template)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TemplateInputError(
            {"name": _("a template called '%(name)s' exists already", name=name)}
        ) from None
    return template


def preview_template(template: MessageTemplate) -> tuple[dict[str, str | None], list[str]]:
    """The template rendered with each variable shown as [name], and the variables it uses."""
    merge = compile_merge(template.subject, template.text_body, template.html_body)
    variables = sorted(merge.variables | {"email"})
    values = {name: f"[{name}]" for name in set(variables) | BUILTIN_VARIABLES}
    try:
        rendered = merge.render(values)
    except TemplateProblem as problem:
        return {"error": template_problem(problem)}, variables
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}, variables


def all_templates() -> list[MessageTemplate]:
    """Every saved template, by name."""
    return list(db.session.scalars(select(MessageTemplate).order_by(MessageTemplate.name)))


def template_names() -> list[tuple[int, str]]:
    """Each saved template's id and name, by name (for a form's choice list)."""
    rows = db.session.execute(select(MessageTemplate.id, MessageTemplate.name).order_by("name"))
    return [(template_id, name) for template_id, name in rows]
