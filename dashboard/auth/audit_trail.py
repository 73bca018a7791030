"""Reading the audit trail: filtered by who, what and when, in keyset pages (by id, newest
first, never OFFSET), for the admins' page and `GET /api/v1/audit` alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, select

from dashboard.extensions import db
from dashboard.models import ACTIONS, AuditEvent

PAGE_SIZE = 50
MAX_FILTER_CHARS = 200


def _moment(raw: str, *, end: bool) -> datetime:
    """2026-11-25 or 2026-11-25T10:30, UTC; the end of a bare date is the whole day."""
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is not None or not 2000 <= moment.year <= 9000:
        raise ValueError(raw)
    return moment + timedelta(days=1) if end and len(raw) == 10 else moment


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # the start of the actor's address
    action: str = ""
    target: str = ""  # e.g. "campaign 12"
    since: str = ""
    until: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> tuple[AuditFilter, dict[str, str]]:
        """The filters from query arguments; a bad one is dropped and explained by field."""
        values: dict[str, str] = {}
        errors: dict[str, str] = {}
        for name in ("actor", "target"):
            raw = (args.get(name) or "").strip()
            if len(raw) > MAX_FILTER_CHARS:
                errors[name] = _("at most %(count)s characters", count=MAX_FILTER_CHARS)
            elif "\0" in raw:
                errors[name] = _("may not contain a NUL character")
            elif raw:
                values[name] = raw
        action = (args.get("action") or "").strip()
        if action and action not in ACTIONS:
            errors["action"] = _(
                "'%(value)s' is not an action; use one of %(actions)s",
                value=action[:40],
                actions=", ".join(ACTIONS),
            )
        elif action:
            values["action"] = action
        for name in ("since", "until"):
            raw = (args.get(name) or "").strip()
            if not raw:
                continue
            try:
                _moment(raw, end=name == "until")
            except ValueError:
                errors[name] = _(
                    "'%(value)s' is not a date like 2026-11-25 or 2026-11-25T10:30", value=raw[:40]
                )
            else:
                values[name] = raw
        return cls(**values), errors

    def query_args(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.actor:
            prefix = self.actor.lower()
            where.append(func.lower(AuditEvent.actor).startswith(prefix, autoescape=True))
        if self.action:
            where.append(AuditEvent.action == self.action)
        if self.target:
            where.append(AuditEvent.target == self.target)
        if self.since:
            where.append(AuditEvent.at >= _moment(self.since, end=False))
        if self.until:
            where.append(AuditEvent.at < _moment(self.until, end=True))
        return where


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    older: int | None  # `before` for the next, older page
    newer: int | None  # `after` for the previous, newer page


def audit_page(
    found: AuditFilter, *, before: int | None = None, after: int | None = None
) -> AuditPage:
    """One page of events, newest first: older than `before`, or newer than `after`."""
    query = select(AuditEvent).where(*found.conditions())
    if after is not None:
        rows = list(
            db.session.scalars(
                query.where(AuditEvent.id > after).order_by(AuditEvent.id).limit(PAGE_SIZE + 1)
            )
        )
        more_newer = len(rows) > PAGE_SIZE
        events = list(reversed(rows[:PAGE_SIZE]))
        return AuditPage(
            events,
            older=events[-1].id if events else None,
            newer=events[0].id if events and more_newer else None,
        )
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)))
    events = rows[:PAGE_SIZE]
    return AuditPage(
        events,
        older=events[-1].id if len(rows) > PAGE_SIZE else None,
        newer=events[0].id if events and before is not None else None,
    )
