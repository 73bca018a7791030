"""What the embedded SMTP catcher received, read for the "Caught mail" pages: the fields kept at
catch time, keyset pages with a count and a search, one message's parts and attachments, and
deleting.

Pages are cut by id (newest first), never by OFFSET, as in the history: page 2,000 of 100,000
caught messages costs what page 1 costs. The list reads only the narrow columns, never `raw`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import load_only

from dashboard.extensions import db
from dashboard.mail.reading import MessageParts, read_message
from dashboard.models import CaughtMail
from dashboard.reporting.history import like_literal

PAGE_SIZE = 50
SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 8
_LIKE_ESCAPE = "\\"
_LISTED = (
    CaughtMail.id,
    CaughtMail.received_at,
    CaughtMail.mail_from,
    CaughtMail.rcpt_tos,
    CaughtMail.subject,
    CaughtMail.from_header,
    CaughtMail.to_header,
)


def _header(headers: EmailMessage, name: str) -> str:
    try:
        return str(headers.get(name, "") or "")
    except (ValueError, TypeError, IndexError):  # a header too broken to decode: keep it raw
        return str(headers.get_all(name, [""])[0])


def caught_fields(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, str]:
    """The columns a caught message keeps beside its bytes: subject, decoded From and To (with
    display names), and the lower-cased text the search reads."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    # PostgreSQL's text refuses NUL, which a hostile header may carry.
    subject, from_header, to_header = (
        _header(headers, n).replace("\0", "") for n in ("Subject", "From", "To")
    )
    searched = "\n".join([subject, from_header, to_header, mail_from, *rcpt_tos]).replace("\0", "")
    return {
        "subject": subject,
        "from_header": from_header,
        "to_header": to_header,
        "search_text": searched.lower(),
    }


@dataclass(frozen=True)
class CaughtPage:
    """One page of caught messages, newest first, with the counts and the cursors around it."""

    mails: list[CaughtMail]
    total: int  # every caught message
    matching: int  # those the search finds (== total without a search)
    older: int | None  # `before=` for the next page
    newer: int | None  # `after=` for the previous page

    def recipients(self, mail: CaughtMail) -> list[str]:
        return json.loads(mail.rcpt_tos)


def search_problem(search: str) -> str | None:
    """Why `search` cannot be used, or None."""
    if len(search) > SEARCH_MAX_CHARS:
        return f"at most {SEARCH_MAX_CHARS} characters"
    if "\0" in search:
        return "may not contain a NUL character"
    if len(search.split()) > SEARCH_MAX_WORDS:
        return f"at most {SEARCH_MAX_WORDS} words"
    return None


def _conditions(search: str) -> list[ColumnElement[bool]]:
    """Every word of `search` must appear in the subject, From, To or the envelope.

    A "contains" match cannot be served by a B-tree index; it reads the narrow `search_text`
    column, stored lower-cased at catch time, and never `raw` (see docs/benchmarks.md)."""
    return [
        CaughtMail.search_text.like("%" + like_literal(word.lower()) + "%", escape=_LIKE_ESCAPE)
        for word in search.split()
    ]


def _rows(where: list[ColumnElement[bool]], *, newest_first: bool) -> list[CaughtMail]:
    order = CaughtMail.id.desc() if newest_first else CaughtMail.id
    query = select(CaughtMail).options(load_only(*_LISTED)).where(*where).order_by(order)
    return list(db.session.scalars(query.limit(PAGE_SIZE + 1)))


def caught_page(
    search: str = "", *, before: int | None = None, after: int | None = None
) -> CaughtPage:
    """The page just older than `before`, or just newer than `after`, or the newest page."""
    where = _conditions(search)
    total = db.session.scalar(select(func.count()).select_from(CaughtMail)) or 0
    matching = (
        total
        if not where
        else db.session.scalar(select(func.count()).select_from(CaughtMail).where(*where)) or 0
    )
    if after is not None:
        rows = _rows([*where, CaughtMail.id > after], newest_first=False)
        mails = list(reversed(rows[:PAGE_SIZE]))
        if not mails:  # nothing newer: the newest page rather than an empty one
            return caught_page(search)
        newer = mails[0].id if len(rows) > PAGE_SIZE else None
        return CaughtPage(mails, total, matching, older=mails[-1].id, newer=newer)
    if before is not None:
        where = [*where, CaughtMail.id < before]
    rows = _rows(where, newest_first=True)
    mails = rows[:PAGE_SIZE]
    older = mails[-1].id if len(rows) > PAGE_SIZE else None
    newer = mails[0].id if before is not None and mails else None
    return CaughtPage(mails, total, matching, older=older, newer=newer)


@dataclass(frozen=True)
class CaughtView(MessageParts):
    """A caught message taken apart for display."""

    mail: CaughtMail
    recipients: list[str]


def find_caught(mail_id: int) -> CaughtMail | None:
    return db.session.get(CaughtMail, mail_id)


def parse_caught(mail: CaughtMail) -> CaughtView:
    return CaughtView(
        **vars(read_message(mail.raw)), mail=mail, recipients=json.loads(mail.rcpt_tos)
    )


@dataclass(frozen=True)
class CaughtAttachment:
    filename: str  # as the message names it; the download sanitises it
    content_type: str
    data: bytes


def caught_attachment(mail: CaughtMail, index: int) -> CaughtAttachment | None:
    """The `index`-th attachment (0-based, in the order the detail page lists them), decoded."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(mail.raw)
    for position, part in enumerate(message.iter_attachments()):
        if position == index:
            return CaughtAttachment(
                part.get_filename() or "",
                part.get_content_type(),
                part.get_payload(decode=True) or b"",
            )
    return None


def delete_caught(mail_id: int) -> bool:
    """Delete one caught message; False when there was none."""
    deleted = db.session.execute(delete(CaughtMail).where(CaughtMail.id == mail_id)).rowcount
    db.session.commit()
    return bool(deleted)


def delete_all_caught() -> int:
    """Delete every caught message; how many there were."""
    deleted = db.session.execute(delete(CaughtMail)).rowcount
    db.session.commit()
    return deleted or 0
