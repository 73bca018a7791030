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
from unicodedata import normalize

from sqlalchemy import ColumnElement, Integer, Text, column, delete, func, select, table
from sqlalchemy.orm import load_only

from dashboard.extensions import db
from dashboard.mail.reading import MessageParts, read_message
from dashboard.models import CaughtMail
from dashboard.reporting.history import like_literal

PAGE_SIZE = 50
# The number of matches is counted exactly up to here; past it the page says "more than".
COUNT_CAP = 10_000
TRIGRAM = 3  # FTS5's trigram index finds words of at least this many characters
# A word shorter than TRIGRAM is read row by row: among this many of the newest candidates only.
SHORT_WORD_WINDOW = 10_000
SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 8
_LIKE_ESCAPE = "\\"
_FTS = table("caught_mail_fts", column("rowid", Integer), column("search_text", Text))
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
        "search_text": searchable(searched),
    }


@dataclass(frozen=True)
class CaughtPage:
    """One page of caught messages, newest first, with the counts and the cursors around it."""

    mails: list[CaughtMail]
    total: int  # every caught message
    matching: int  # those the search finds (== total without a search), at most COUNT_CAP
    older: int | None  # `before=` for the next page
    newer: int | None  # `after=` for the previous page
    more: bool = False  # more than `matching` match: the count stopped at COUNT_CAP
    # Set when a short word limited the search to the newest this many candidates.
    window: int | None = None

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


def searchable(text: str) -> str:
    """Text as `search_text` holds it and a search compares it: lower-cased, then composed
    (NFC), so "HOÁ" typed with a combining accent finds "Hoá" however the header spelled it."""
    return normalize("NFC", text.lower())


def search_words(search: str) -> list[str]:
    return searchable(search).split()


def _like(column: ColumnElement[str], word: str) -> ColumnElement[bool]:
    return column.like("%" + like_literal(word) + "%", escape=_LIKE_ESCAPE)


def _phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _matches(
    words: list[str], floor: int | None = None
) -> tuple[ColumnElement[int], list[ColumnElement[bool]]]:
    """The id column and the conditions that find the messages holding every word, from the
    subject, From, To or the envelope ("contains", not whole words), with ids from `floor` up.

    SQLite: the FTS5 trigram table the migration keeps beside caught_mail (a narrow copy of
    `search_text`): a word of three characters or more is a phrase its index finds; a shorter
    one is a LIKE over that narrow copy. PostgreSQL: LIKE on `search_text`, served by the
    pg_trgm index for words of three characters or more. Neither reads `raw`."""
    if db.session.get_bind().dialect.name != "sqlite":
        key, found = CaughtMail.id, [_like(CaughtMail.search_text, word) for word in words]
    else:
        key = _FTS.c.rowid
        found = [_like(_FTS.c.search_text, word) for word in words if len(word) < TRIGRAM]
        indexed = [_phrase(word) for word in words if len(word) >= TRIGRAM]
        if indexed:
            found.insert(0, _FTS.c.search_text.op("MATCH")(" AND ".join(indexed)))
    if floor is not None:
        found.append(key >= floor)
    return key, found


def _short_word_floor(words: list[str]) -> int | None:
    """With a word too short for the index, the lowest id the search reads: that of the
    SHORT_WORD_WINDOW-th newest message the longer words find (or of all). None when there are
    fewer, or no short word: then the index bounds the work."""
    if all(len(word) >= TRIGRAM for word in words):
        return None
    key, where = _matches([word for word in words if len(word) >= TRIGRAM])
    newest_first = select(key).where(*where).order_by(key.desc())
    return db.session.scalar(newest_first.offset(SHORT_WORD_WINDOW - 1).limit(1))


def _count(words: list[str], floor: int | None) -> tuple[int, bool]:
    """How many messages match, exactly up to COUNT_CAP; and whether more do."""
    key, where = _matches(words, floor)
    capped = select(key).where(*where).limit(COUNT_CAP + 1).subquery()
    counted = db.session.scalar(select(func.count()).select_from(capped)) or 0
    return min(counted, COUNT_CAP), counted > COUNT_CAP


def _rows(
    words: list[str],
    floor: int | None,
    *,
    before: int | None = None,
    after: int | None = None,
) -> list[CaughtMail]:
    """Up to PAGE_SIZE + 1 listed rows: newest first, or oldest first after `after`."""
    query = select(CaughtMail).options(load_only(*_LISTED))
    key, where = (CaughtMail.id, []) if not words else _matches(words, floor)
    if before is not None:
        where.append(key < before)
    if after is not None:
        where.append(key > after)
    order = key if after is not None else key.desc()
    if words:
        ids = select(key).where(*where).order_by(order).limit(PAGE_SIZE + 1)
        where = [CaughtMail.id.in_(ids)]
    order = CaughtMail.id if after is not None else CaughtMail.id.desc()
    return list(db.session.scalars(query.where(*where).order_by(order).limit(PAGE_SIZE + 1)))


def caught_page(
    search: str = "", *, before: int | None = None, after: int | None = None
) -> CaughtPage:
    """The page just older than `before`, or just newer than `after`, or the newest page. A
    search with a word of one or two characters reads the newest SHORT_WORD_WINDOW messages
    that its longer words find (all of them without any) and says so."""
    words = search_words(search)
    total = db.session.scalar(select(func.count()).select_from(CaughtMail)) or 0
    floor = _short_word_floor(words) if words else None
    matching, more = _count(words, floor) if words else (total, False)
    window = SHORT_WORD_WINDOW if floor is not None else None
    if after is not None:
        rows = _rows(words, floor, after=after)
        mails = list(reversed(rows[:PAGE_SIZE]))
        if not mails:  # nothing newer: the newest page rather than an empty one
            return caught_page(search)
        newer = mails[0].id if len(rows) > PAGE_SIZE else None
        return CaughtPage(
            mails, total, matching, older=mails[-1].id, newer=newer, more=more, window=window
        )
    rows = _rows(words, floor, before=before)
    mails = rows[:PAGE_SIZE]
    older = mails[-1].id if len(rows) > PAGE_SIZE else None
    newer = mails[0].id if before is not None and mails else None
    return CaughtPage(mails, total, matching, older=older, newer=newer, more=more, window=window)


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
