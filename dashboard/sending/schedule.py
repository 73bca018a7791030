"""Sending later: the schedule is a column (`Campaign.send_at`, and each scheduled message's
`next_attempt_at`); the beat dispatcher (`dispatcher.dispatch_due`) queues what is due.

Times are stored naive UTC; the dashboard shows and reads them in the person's own zone, else
DISPLAY_TIMEZONE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import get_timezone
from flask_babel import gettext as _
from sqlalchemy import exists, select, update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import Campaign, Message, MessageStatus, record_event, utcnow
from dashboard.sending.field_errors import FieldError
from dashboard.sending.moments import parse_moment, within_range

# Messages not yet handed to a worker: these can be (re)scheduled.
SCHEDULABLE_STATUSES = (MessageStatus.QUEUED, MessageStatus.SCHEDULED)
# A send further ahead than this is a typo (a year 9999), not a plan.
MAX_SCHEDULE_AHEAD = timedelta(days=3653)


def display_zone() -> ZoneInfo:
    """The zone times are shown and entered in: the signed-in person's own, else
    DISPLAY_TIMEZONE (Flask-Babel's time zone selector decides, dashboard/auth/preferences.py)."""
    zone = get_timezone()
    return zone if isinstance(zone, ZoneInfo) else configured_zone()


def configured_zone() -> ZoneInfo:
    """The dashboard's zone (DISPLAY_TIMEZONE, an IANA name)."""
    name = current_app.config["DISPLAY_TIMEZONE"] or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"DISPLAY_TIMEZONE={name!r} is not a time zone name (try UTC or Asia/Ho_Chi_Minh)"
        ) from None


def as_stored(moment: datetime) -> datetime:
    """An aware time as stored: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_display(stored: datetime) -> datetime:
    """A stored (naive UTC) time in the display zone; in UTC when the zone cannot show it (a
    row stored before times were range-checked, at the very end of year 9999)."""
    moment = stored.replace(tzinfo=UTC)
    try:
        return moment.astimezone(display_zone())
    except OverflowError:
        return moment


def parse_local(text: str, *, field: str = "send_at") -> datetime:
    """A time typed in the display zone (`2026-12-01T09:30`, as a datetime-local input sends it),
    as stored (naive UTC)."""
    return parse_moment(text, field=field, zone=display_zone())


def parse_with_offset(text: str, *, field: str = "send_at") -> datetime:
    """A time given with its UTC offset (the API: a time without one could mean any zone), as
    stored (naive UTC)."""
    return parse_moment(
        text, field=field, zone=None, example=_("an ISO 8601 time like 2026-12-01T09:30:00+07:00")
    )


def check_send_at(moment: datetime, *, field: str = "send_at") -> datetime:
    """A future time, at most MAX_SCHEDULE_AHEAD away, as stored (naive UTC); a naive `moment`
    is taken as UTC (as stored). A past time is an error, never a silent immediate send."""
    stored = within_range(moment, field=field)
    now = utcnow()
    if stored <= now:
        shown = to_display(stored).strftime("%Y-%m-%d %H:%M:%S %Z")
        raise FieldError(
            field,
            _("%(when)s is in the past; give a future time, or none to send now", when=shown),
        )
    if stored > now + MAX_SCHEDULE_AHEAD:
        raise FieldError(
            field,
            _(
                "%(when)s is more than %(years)s years ahead; give a nearer time",
                when=f"{stored:%Y-%m-%d}",
                years=MAX_SCHEDULE_AHEAD.days // 365,
            ),
        )
    return stored


def schedule_messages(campaign: Campaign, send_at: datetime) -> int:
    """Hold the campaign's messages that no worker has taken yet until `send_at` (naive UTC or
    aware); returns how many. Copies of their ids already on the broker are then harmless: a
    worker does not claim a `scheduled` message."""
    send_at = check_send_at(send_at)
    campaign.send_at = send_at
    with transaction():
        result = db.session.execute(
            update(Message)
            .where(Message.campaign_id == campaign.id, Message.status.in_(SCHEDULABLE_STATUSES))
            .values(status=MessageStatus.SCHEDULED, next_attempt_at=send_at, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return result.rowcount or 0


def move_schedule(campaign: Campaign, send_at: datetime) -> int:
    """Move a scheduled campaign that is not yet due to a new future time; returns how many
    messages moved (0 when it is already due, sent or cancelled)."""
    new_time = check_send_at(send_at)
    now = utcnow()
    if campaign.cancelled_at is not None or campaign.send_at is None or campaign.send_at <= now:
        return 0
    with transaction():
        result = db.session.execute(
            update(Message)
            .where(
                Message.campaign_id == campaign.id,
                Message.status == MessageStatus.SCHEDULED,
                Message.next_attempt_at > now,  # not moved once the dispatcher could take it
            )
            .values(next_attempt_at=new_time, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        moved = result.rowcount or 0
        if moved:
            campaign.send_at = new_time
            record_event(
                "rescheduled", f"campaign {campaign.id}", f"to {new_time:%Y-%m-%d %H:%M} UTC"
            )
    return moved


def upcoming_campaigns(limit: int = 200, *, owner_id: int | None = None) -> list[Campaign]:
    """Campaigns with messages still waiting for their time, soonest first (only `owner_id`'s
    when given)."""
    waiting = exists().where(
        Message.campaign_id == Campaign.id, Message.status == MessageStatus.SCHEDULED
    )
    query = (
        select(Campaign)
        .where(Campaign.send_at.is_not(None), Campaign.cancelled_at.is_(None), waiting)
        .order_by(Campaign.send_at, Campaign.id)
        .limit(limit)
    )
    if owner_id is not None:
        query = query.where(Campaign.owner_id == owner_id)
    return list(db.session.scalars(query))
