"""One message as it would be sent, rebuilt from its row by the same code the workers use."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from dashboard.mail.headers import HeaderInjectionError
from dashboard.models import Message
from dashboard.sending.envelopes import envelopes_for


@dataclass(frozen=True)
class RenderedMessage:
    """Every value here is shown escaped; the HTML only inside a sandboxed iframe."""

    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[tuple[str, str, int]]
    size: int
    problem: str | None = None  # why the message could not be built, if it could not


def render_message(message: Message) -> RenderedMessage:
    """Build the MIME message the workers would send for `message`, and take it apart."""
    try:
        [envelope] = envelopes_for([message.id])
    except (HeaderInjectionError, ValueError) as error:
        return RenderedMessage([], None, None, [], 0, problem=str(error))
    parsed: EmailMessage = BytesParser(policy=policy.default).parsebytes(envelope.data)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    return RenderedMessage(
        headers=[(name, str(value)) for name, value in parsed.items()],
        text=text_part.get_content() if text_part is not None else None,
        html=html_part.get_content() if html_part is not None else None,
        attachments=[
            (
                part.get_filename() or "(unnamed)",
                part.get_content_type(),
                len(part.get_payload(decode=True) or b""),
            )
            for part in parsed.iter_attachments()
        ],
        size=len(envelope.data),
    )
