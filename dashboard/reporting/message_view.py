"""One message as it would be sent, rebuilt from its row by the same code the workers use."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from dashboard.mail.merge import TemplateProblem
from dashboard.mail.reading import MessageParts, preview_html, read_message
from dashboard.models import Message
from dashboard.sending.envelopes import envelope_for
from dashboard.sending.stored_texts import template_problem


@dataclass(frozen=True)
class RenderedMessage(MessageParts):
    problem: str | None = None  # why the message could not be built, if it could not


def render_message(message: Message) -> RenderedMessage:
    """Build the MIME message the workers would send for `message`, and take it apart."""
    try:
        envelope = envelope_for(message.id, current_app.config)
    except TemplateProblem as problem:
        return RenderedMessage([], None, None, [], 0, problem=template_problem(problem))
    except ValueError as error:
        return RenderedMessage([], None, None, [], 0, problem=str(error))
    return RenderedMessage(**vars(read_message(envelope.data)))


def html_preview_of(message: Message) -> str | None:
    """The HTML body of `message` as a worker would send it now, for its preview; None when it
    has none or cannot be built (the detail page says why)."""
    try:
        envelope = envelope_for(message.id, current_app.config)
    except ValueError:  # TemplateProblem is one too
        return None
    return preview_html(envelope.data)
