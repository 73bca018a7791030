"""Files attached to a message: a safe name and a plausible content type for each."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field

_UNSAFE_FILENAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class AttachmentFile:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


def safe_filename(filename: str) -> str:
    """The last path component, without control characters: no traversal, no header tricks."""
    name = _UNSAFE_FILENAME_CHARS.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    name = name.lstrip(".") or "attachment"
    return name[:255]


def guess_content_type(filename: str, declared: str | None = None) -> str:
    """The declared type when it is a plausible `type/subtype`, else a guess from the name."""
    if declared and re.fullmatch(r"[\w.+-]+/[\w.+-]+", declared):
        return declared.lower()
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
