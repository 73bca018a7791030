"""Taking a MIME message apart for display: its headers, text and HTML bodies and attachments.

The one reader behind every page that shows a message (History's detail, Caught mail), so they
all show the same bytes the same way.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import unquote


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


# `cid:` in an attribute value or a CSS url(), up to the quote, space or bracket that ends it.
_CID_REFERENCE = re.compile(r"""cid:([^"'\s<>()]+)""", re.IGNORECASE)


def preview_html(data: bytes) -> str | None:
    """The HTML body of `data`, its `cid:` images turned into `data:` URLs of the message's own
    parts, for a preview whose policy allows no other image source; None without an HTML part.

    Inlined rather than linked to a route: the preview is a sandboxed document with an opaque
    origin, whose requests carry no session cookie, so a route would answer "sign in"."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(data)
    html_part = message.get_body(preferencelist=("html",))
    if html_part is None:
        return None
    html = html_part.get_content()
    images: dict[str, str] = {}
    for part in message.walk():
        content_id = str(part.get("Content-ID") or "").strip().strip("<>")
        if content_id and part.get_content_maintype() == "image":
            payload = part.get_payload(decode=True) or b""
            images[content_id.lower()] = (
                f"data:{part.get_content_type()};base64,{base64.b64encode(payload).decode()}"
            )

    def inline(match: re.Match[str]) -> str:
        return images.get(unquote(match.group(1)).lower(), match.group(0))

    return _CID_REFERENCE.sub(inline, html) if images else html
