"""Reading a time a person typed: one parser for every field that takes a date or a time
(`send_at` in the API and the forms, the history and statistics filters), and one range that
every such time must fall in.

The range is what the app can store, show in any zone (an offset moves a time up to a day) and
still add a day to ("until 2026-11-25" means up to the end of that day): from 1900 to the end of
9998. A time past it is a clear error naming the field, never an OverflowError on a page that
every user opens.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from flask_babel import gettext as _

from dashboard.sending.field_errors import FieldError

EARLIEST = datetime(1900, 1, 1)
END_OF_RANGE = datetime(9999, 1, 1)  # exclusive
MAX_TEXT_CHARS = 64  # the longest ISO 8601 time is 32 characters


def parse_moment(
    text: str,
    *,
    field: str,
    zone: tzinfo | None,
    offsets: bool = True,
    example: str | None = None,
) -> datetime:
    """The time `text` (ISO 8601: `2026-12-01`, `2026-12-01T09:30`, `...:00+07:00`, `...Z`) as
    stored, naive UTC. Without an offset it is read in `zone`; with `zone=None` an offset is
    required, and with `offsets=False` it is refused. FieldError says what to give instead."""
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise FieldError(
            field, _("at most %(count)s characters for a date and time", count=MAX_TEXT_CHARS)
        )
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(
            field,
            _(
                "'%(value)s' is not %(example)s",
                value=text[:40],
                example=example or _("a date and time like 2026-12-01T09:30"),
            ),
        ) from None
    if moment.tzinfo is not None and not offsets:
        raise FieldError(field, _("give the time in UTC without an offset, like 2026-12-01T09:30"))
    if moment.tzinfo is None:
        if zone is None:
            raise FieldError(
                field,
                _("give the time with its UTC offset, e.g. 2026-12-01T09:30:00+07:00 or ...Z"),
            )
        moment = moment.replace(tzinfo=zone)
    return within_range(moment, field=field)


def within_range(moment: datetime, *, field: str) -> datetime:
    """An aware (or naive UTC) `moment` as stored, naive UTC, if it and its UTC time both lie in
    1900 to 9998; FieldError otherwise."""
    try:
        stored = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError:
        stored = None
    wall = moment.replace(tzinfo=None)
    inside = stored is not None and all(EARLIEST <= t < END_OF_RANGE for t in (wall, stored))
    if not inside:
        raise FieldError(
            field,
            _(
                "'%(value)s' is out of range: give a time between %(first)s and %(last)s",
                value=moment.isoformat()[:40],
                first=f"{EARLIEST:%Y-%m-%d}",
                last=f"{END_OF_RANGE.year - 1}-12-31",
            ),
        )
    return stored
