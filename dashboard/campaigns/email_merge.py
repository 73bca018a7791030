"""An email written on Compose or posted to the API is a template when it uses {{ }} or {% %}:
each recipient's copy is rendered with their `name` and `email`. The check both make before
anything is stored."""

from __future__ import annotations

from flask_babel import gettext as _

from dashboard.mail.merge import (
    BUILTIN_VARIABLES,
    TemplateProblem,
    check_merge,
    compile_merge,
)
from dashboard.sending.stored_texts import template_field_problems, translated_joined

#: What an email's template may use for each recipient.
OFFERED = frozenset({"name", "email"})


def email_template_problems(subject: str, text: str, html: str | None) -> dict[str, str]:
    """What is wrong with the email's parts as templates, by field; none when it can be sent."""
    try:
        template = compile_merge(subject, text, html)
    except TemplateProblem as problem:
        return template_field_problems(problem)
    missing = sorted(template.variables - OFFERED - BUILTIN_VARIABLES)
    if missing:  # an email has no file: say what it does offer
        return {
            "text": _(
                "The email uses %(missing)s, but an email (not a CSV campaign) offers only "
                "{{ name }} and {{ email }} for each recipient; other variables need a CSV "
                "campaign, whose columns they are.",
                missing=", ".join("{{ " + name + " }}" for name in missing),
            )
        }
    problems = check_merge(template, OFFERED)
    return {"text": translated_joined(problems)} if problems else {}
