"""Taking a MIME message apart for display: its headers, text and HTML bodies and attachments.

The one reader behind every page that shows a message (History's detail, Caught mail), so they
all show the same bytes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


@dataclass(frozen=True)
class MessageParts:
    """Every value here is shown escaped; the HTML only inside a sandboxed iframe."""

    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[tuple[str, str, int]]  # filename, content type, size in bytes
    size: int


def read_message(data: bytes) -> MessageParts:
    """The parts of the MIME message `data`, decoded."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(data)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return MessageParts(
        headers=[(name, str(value)) for name, value in message.items()],
        text=text_part.get_content() if text_part is not None else None,
        html=html_part.get_content() if html_part is not None else None,
        attachments=[
            (
                part.get_filename() or "(unnamed)",
                part.get_content_type(),
                len(part.get_payload(decode=True) or b""),
            )
            for part in message.iter_attachments()
        ],
        size=len(data),
    )
