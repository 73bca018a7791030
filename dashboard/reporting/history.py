"""What the history shows: filters read from the URL, and keyset pages over the messages.

Pages are cut by message id (newest first), never by OFFSET: a page is "the next 50 rows older
than id X", so rows arriving while someone pages are never skipped or shown twice, and page
5,000 costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import contains_eager, load_only, selectinload

from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus
from dashboard.reporting.paging import whole_number
from dashboard.sending import moments
from dashboard.sending.schedule import as_stored

PAGE_SIZE = 50
SEARCH_MAX_CHARS = 320
_LIKE_ESCAPE = "\\"


def status_choices() -> list[str]:
    """Every status the code knows; other values in the URL are refused, never crash a query."""
    return [status.value for status in MessageStatus]


def like_literal(text: str) -> str:
    """`text` with LIKE's wildcards escaped, so a search for `a_b%` finds exactly that."""
    for char in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, _LIKE_ESCAPE + char)
    return text


DATE_EXAMPLE = _l("a date like 2026-11-25 or 2026-11-25T10:30")


def parse_moment(value: str, *, end: bool, field: str = "since", zone: tzinfo = UTC) -> datetime:
    """A date (`2026-11-25`) or a minute (`2026-11-25T10:30`) in `zone` (or with its own UTC
    offset), as stored (naive UTC); as an `end` the whole day or minute is included, so the
    moment returned is just after it (the next local midnight: a day is 23 to 25 hours where
    clocks change). FieldError (a ValueError) for anything else, or a time outside the range
    the app can show (`sending.moments`)."""
    value = value.strip()
    moment = moments.parse_moment(value, field=field, zone=zone, example=str(DATE_EXAMPLE))
    if not end:
        return moment.replace(second=0, microsecond=0)
    typed = datetime.fromisoformat(value).replace(second=0, microsecond=0)
    typed = typed if typed.tzinfo else typed.replace(tzinfo=zone)
    # Counted on the wall clock, then converted; within range, as the start was (END_OF_RANGE).
    after = typed + (timedelta(days=1) if len(value) == 10 else timedelta(minutes=1))
    return as_stored(after)


@dataclass(frozen=True)
class HistoryFilter:
    """The filters of one history view; `query_args()` puts them back in a URL."""

    status: str = ""
    campaign: int | None = None
    since: str = ""
    until: str = ""
    recipient: str = ""
    subject: str = ""
    code: int | None = None
    domain: str = ""
    # Only the campaigns of this user (a sender's own); set by the view, never from the URL.
    owner_id: int | None = None
    # The zone since and until are typed in (the person's own); set by the view.
    zone: tzinfo = UTC

    @classmethod
    def from_args(
        cls, args: Mapping[str, str], zone: tzinfo = UTC
    ) -> tuple[HistoryFilter, dict[str, str]]:
        """Read the filters from query arguments, times in `zone`; bad ones are dropped and
        explained by field."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {"zone": zone}
        status = (args.get("status") or "").strip()
        if status and status not in status_choices():
            errors["status"] = _(
                "'%(value)s' is not a status; use one of %(choices)s",
                value=status[:40],
                choices=", ".join(status_choices()),
            )
        elif status:
            values["status"] = status
        for name, label in (
            ("campaign", _("'%(value)s' is not a campaign number")),
            ("code", _("'%(value)s' is not an SMTP code like 550")),
        ):
            raw = (args.get(name) or "").strip().lstrip("#")
            if not raw:
                continue
            if (number := whole_number(raw, 999_999_999)) is not None:
                values[name] = number
            else:
                errors[name] = label % {"value": raw[:40]}
        for name in ("since", "until"):
            raw = (args.get(name) or "").strip()
            if not raw:
                continue
            try:
                parse_moment(raw, end=name == "until", field=name, zone=zone)
            except ValueError as error:
                errors[name] = str(error)
            else:
                values[name] = raw
        for name in ("recipient", "subject", "domain"):
            raw = (args.get(name) or "").strip()
            if len(raw) > SEARCH_MAX_CHARS:
                errors[name] = _("at most %(count)s characters", count=SEARCH_MAX_CHARS)
            elif "\0" in raw:  # no stored text holds one, and PostgreSQL refuses it in a query
                errors[name] = _("may not contain a NUL character")
            elif raw:
                values[name] = raw.lstrip("@") if name == "domain" else raw
        found = cls(**values)
        if found.since and found.until and found.start() >= found.end():
            errors["until"] = _("the end of the range comes before its start")
            found = replace(found, until="")
        return found, errors

    def start(self) -> datetime | None:
        return parse_moment(self.since, end=False, zone=self.zone) if self.since else None

    def end(self) -> datetime | None:
        return parse_moment(self.until, end=True, zone=self.zone) if self.until else None

    def query_args(self) -> dict[str, Any]:
        """The filters that are set, for `url_for` (so a view can be shared or bookmarked)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) and f.name not in ("owner_id", "zone")
        }

    @property
    def is_empty(self) -> bool:
        return not self.query_args()

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses; each one is served by an index (see the models)."""
        where: list[ColumnElement[bool]] = []
        if self.status:
            where.append(Message.status == self.status)
        if self.campaign is not None:
            where.append(Message.campaign_id == self.campaign)
        # The date range is of each message's last event: sent, failed, cancelled, or queued.
        if (start := self.start()) is not None:
            where.append(Message.updated_at >= start)
        if (end := self.end()) is not None:
            where.append(Message.updated_at < end)
        if self.code is not None:
            where.append(Message.last_code == self.code)
        if self.recipient:
            # A case-insensitive prefix: the range walks the lower(to_address) index, and
            # LIKE keeps the answer exact whatever the database's collation.
            prefix = self.recipient.lower()
            lowered = func.lower(Message.to_address)
            where += [
                lowered >= prefix,
                lowered < prefix + "\U0010ffff",
                lowered.like(like_literal(prefix) + "%", escape=_LIKE_ESCAPE),
            ]
        if self.domain:
            where.append(
                func.lower(Message.to_address).like(
                    "%@" + like_literal(self.domain.lower()), escape=_LIKE_ESCAPE
                )
            )
        if self.subject:
            # A merge message's own rendered subject once built; else its campaign's as typed.
            pattern = "%" + like_literal(self.subject) + "%"
            matching = select(Campaign.id).where(
                Campaign.subject.ilike(pattern, escape=_LIKE_ESCAPE)
            )
            where.append(
                or_(
                    Message.subject.ilike(pattern, escape=_LIKE_ESCAPE),
                    and_(Message.subject.is_(None), Message.campaign_id.in_(matching)),
                )
            )
        if self.owner_id is not None:
            owned = select(Campaign.id).where(Campaign.owner_id == self.owner_id)
            where.append(Message.campaign_id.in_(owned))
        return where


@dataclass(frozen=True)
class HistoryPage:
    """One page of messages, newest first, with the cursors to its neighbours."""

    messages: list[Message]
    older: int | None  # `before=` for the next page, when older rows exist
    newer: int | None  # `after=` for the previous page, when newer rows exist


def _rows(where: list[ColumnElement[bool]]) -> Select:
    return (
        select(Message)
        .join(Message.campaign)
        # Only the subject: a campaign's bodies may be megabytes, shown on the detail page alone.
        .options(contains_eager(Message.campaign).load_only(Campaign.id, Campaign.subject))
        .where(*where)
    )


def history_page(
    found: HistoryFilter, *, before: int | None = None, after: int | None = None
) -> HistoryPage:
    """The page just older than `before`, or just newer than `after`, or the newest page."""
    where = found.conditions()
    if after is not None:
        rows = db.session.scalars(
            _rows([*where, Message.id > after]).order_by(Message.id).limit(PAGE_SIZE + 1)
        ).all()
        more_newer = len(rows) > PAGE_SIZE
        messages = list(reversed(rows[:PAGE_SIZE]))
        if not messages:  # nothing newer: show the newest page instead of an empty one
            return history_page(found)
        return HistoryPage(
            messages, older=messages[-1].id, newer=messages[0].id if more_newer else None
        )
    if before is not None:
        where = [*where, Message.id < before]
    rows = db.session.scalars(_rows(where).order_by(Message.id.desc()).limit(PAGE_SIZE + 1)).all()
    messages = list(rows[:PAGE_SIZE])
    older = messages[-1].id if len(rows) > PAGE_SIZE else None
    newer = messages[0].id if before is not None and messages else None
    return HistoryPage(messages, older=older, newer=newer)


def iter_history(found: HistoryFilter, *, chunk: int = 1000) -> Iterator[Message]:
    """Every matching message, newest first, read in keyset chunks (for streamed exports)."""
    before: int | None = None
    while True:
        where = found.conditions()
        if before is not None:
            where.append(Message.id < before)
        rows = db.session.scalars(_rows(where).order_by(Message.id.desc()).limit(chunk)).all()
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1].id
        db.session.expunge_all()  # a million rows must not pile up in the session


def campaign_choices(limit: int = 100, *, owner_id: int | None = None) -> list[Campaign]:
    """The newest campaigns, id and subject only, for the history's campaign filter."""
    query = (
        select(Campaign)
        .options(load_only(Campaign.id, Campaign.subject, Campaign.merge))
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    if owner_id is not None:
        query = query.where(Campaign.owner_id == owner_id)
    return list(db.session.scalars(query))


def message_with_attempts(message_id: int) -> Message | None:
    """One message with its campaign and its attempt log loaded, or None."""
    return db.session.scalars(
        select(Message)
        .where(Message.id == message_id)
        .options(selectinload(Message.campaign), selectinload(Message.attempts_log))
    ).one_or_none()


def messages_of_task(task_id: str) -> list[Message]:
    """The messages one batch task was given, in id order."""
    return list(
        db.session.scalars(select(Message).where(Message.task_id == task_id).order_by(Message.id))
    )
