"""Merge fields that will merge nothing for some recipients, found before anything is sent:
the CSV preview (a column empty in some rows) and Compose (`{{ name }}` for a bare address)
both warn with these, in the same words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dashboard.mail.addresses import Mailbox
from dashboard.mail.merge import MergeTemplate, TemplateProblem, compile_merge, uses_merge_syntax
from dashboard.sending.requests import EmailContent

# Compose names the recipients a warning is about; a long list is cut here.
RECIPIENTS_NAMED = 10


@dataclass(frozen=True)
class EmptyField:
    """A merge field the templates use that is empty for `rows` of the recipients."""

    variable: str
    rows: int
    total: int | None = None  # how many recipients in all, when it is known cheaply
    recipients: tuple[str, ...] = ()  # the first few it is empty for, when they are named


def empty_fields(template: MergeTemplate, empty_counts: Mapping[str, int]) -> list[EmptyField]:
    """The variables the templates print blank where they are empty, and are empty somewhere,
    in `empty_counts`'s order."""
    return [
        EmptyField(variable, count)
        for variable, count in empty_counts.items()
        if count and variable in template.variables and template.blank_when_empty(variable)
    ]


def bare_address_fields(template: MergeTemplate, recipients: Sequence[Mailbox]) -> list[EmptyField]:
    """`{{ name }}` in an email written by hand is the recipient's display name: empty for a bare
    address, so "Chào {{ name }}," reads "Chào ," to them (not so `{{ name or 'bạn' }}`)."""
    if "name" not in template.variables or not template.blank_when_empty("name"):
        return []
    bare = [mailbox.address for mailbox in recipients if not mailbox.name]
    if not bare:
        return []
    return [EmptyField("name", len(bare), len(recipients), tuple(bare[:RECIPIENTS_NAMED]))]


def blank_merge_fields(content: EmailContent) -> list[EmptyField]:
    """What an email written by hand (Compose, or the API's one email) merges blank for some
    of its recipients: `{{ name }}` for a bare address. Nothing for a plain email, or for a
    template that does not compile (that is an error, named where it is submitted)."""
    if not uses_merge_syntax(content.subject, content.text, content.html):
        return []
    try:
        template = compile_merge(content.subject, content.text, content.html)
    except TemplateProblem:
        return []
    return bare_address_fields(template, content.recipients)
