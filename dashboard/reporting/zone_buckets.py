"""A person's own hours and days as buckets: where each one starts, as stored (naive UTC), and
the stretches of a range in which their zone keeps one UTC offset.

A local day is not always 24 hours (Europe/Berlin's 29 March 2026 has 23, its 25 October 25),
so bucket starts are local midnights (or hours) converted one by one, never UTC plus a fixed
offset; the SQL that groups rows by bucket (`reporting.sql.local_bucket`) shifts each row by the
offset of the stretch it falls in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from dashboard.sending.schedule import as_stored
from dashboard.sending.time_buckets import floor_to

STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Zones change offset at most once a day; a change between two samples is then found to the
# second by halving (17 halvings of a day).
SAMPLE_EVERY = timedelta(days=1)


def local(stored: datetime, zone: tzinfo) -> datetime:
    """A stored (naive UTC) time as an aware time in `zone` (its fold says which of a repeated
    hour it is)."""
    return stored.replace(tzinfo=UTC).astimezone(zone)


def floor_local(moment: datetime, unit: str, zone: tzinfo) -> datetime:
    """The start (naive UTC) of the hour or day in `zone` that the stored time `moment` is in."""
    start = as_stored(floor_to(local(moment, zone), unit))
    # A midnight the clocks skip (a change at 00:00) reads as the change itself: never later.
    return min(start, moment)


def next_start(start: datetime, unit: str, zone: tzinfo) -> datetime:
    """The start (naive UTC) of the bucket after the one starting at `start`."""
    if unit == "day":
        wall = local(start, zone).replace(tzinfo=None) + STEPS["day"]
        following = as_stored(floor_to(wall, "day").replace(tzinfo=zone))
    else:
        following = floor_local(start + STEPS["hour"], "hour", zone)
    # Never back or in place (a zone moving by half an hour): then one hour of real time.
    return following if following > start else start + STEPS["hour"]


def days_before(start: datetime, days: int, zone: tzinfo) -> datetime:
    """The local midnight (naive UTC) `days` calendar days before the day `start` is in: a week
    of days across a clock change is 167 or 169 hours."""
    wall = floor_to(local(start, zone).replace(tzinfo=None), "day") - timedelta(days=days)
    return floor_local(as_stored(wall.replace(tzinfo=zone)), "day", zone)


def bucket_starts(start: datetime, end: datetime, unit: str, zone: tzinfo) -> list[datetime]:
    """The starts (naive UTC) of the local hours or days that [start, end) touches."""
    found, moment = [], floor_local(start, unit, zone)
    while moment < end:
        found.append(moment)
        moment = next_start(moment, unit, zone)
    return found


def utc_offset(moment: datetime, zone: tzinfo) -> int:
    """Seconds `zone` is ahead of UTC at the stored time `moment`."""
    offset = local(moment, zone).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def offset_stretches(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[datetime, int]]:
    """[(from, offset in seconds)] for [start, end): each stretch runs from its `from` to the
    next one's (the first from `start`), with one UTC offset throughout."""
    stretches = [(start, utc_offset(start, zone))]
    sample = start
    while sample < end:
        following = min(sample + SAMPLE_EVERY, end)
        if utc_offset(following, zone) != stretches[-1][1]:
            low, high = sample, following  # the change is in (low, high]
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if utc_offset(middle, zone) == stretches[-1][1]:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0)
            stretches.append((high, utc_offset(high, zone)))
        sample = following
    return stretches
