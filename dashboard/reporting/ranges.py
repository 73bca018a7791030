"""The time range a statistics view covers, read from the URL, and its hourly or daily buckets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _

from dashboard.models import utcnow
from dashboard.reporting.history import parse_moment
from dashboard.sending.time_buckets import floor_to

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESETS["90d"] = timedelta(days=90)
DEFAULT_PRESET = "7d"
UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 400


@dataclass(frozen=True)
class StatsRange:
    """[start, end) in naive UTC, cut into buckets of one `unit`."""

    start: datetime
    end: datetime
    unit: str
    preset: str = ""  # "" when the range was given as since/until

    def buckets(self) -> list[datetime]:
        step, moment, found = UNITS[self.unit], self.start, []
        while moment < self.end:
            found.append(moment)
            moment += step
        return found

    def query_args(self) -> dict[str, str]:
        """The range as URL arguments (history links use the same since/until)."""
        return {
            "since": self.start.strftime("%Y-%m-%dT%H:%M"),
            "until": (self.end - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M"),
        }

    @property
    def last(self) -> datetime:
        """The range's last second (its end is exclusive)."""
        return self.end - timedelta(seconds=1)


def parse_range(
    args: Mapping[str, str], now: datetime | None = None
) -> tuple[StatsRange, dict[str, str]]:
    """A preset (`range=24h|7d|30d|90d`) or `since`/`until`; `unit=hour|day`. Errors by field."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    unit = (args.get("unit") or "").strip()
    if unit and unit not in UNITS:
        errors["unit"] = _("'%(value)s' is not a bucket; use hour or day", value=unit[:20])
        unit = ""
    since, until = (args.get("since") or "").strip(), (args.get("until") or "").strip()
    preset = (args.get("range") or "").strip()
    if since or until:
        try:
            start = parse_moment(since, end=False) if since else now - PRESETS[DEFAULT_PRESET]
        except ValueError as error:
            errors["since"] = str(error)
            start = now - PRESETS[DEFAULT_PRESET]
        try:
            end = parse_moment(until, end=True, field="until") if until else now
        except ValueError as error:
            errors["until"] = str(error)
            end = now
        if end <= start:
            errors["until"] = _("the end of the range comes before its start")
            end = start + timedelta(days=1)
        unit = unit or ("hour" if end - start <= timedelta(days=2) else "day")
        start = floor_to(start, unit)
        preset = ""
    else:
        if preset and preset not in PRESETS:
            errors["range"] = _(
                "'%(value)s' is not a range; use one of %(choices)s",
                value=preset[:20],
                choices=", ".join(PRESETS),
            )
            preset = ""
        preset = preset or DEFAULT_PRESET
        span = PRESETS[preset]
        unit = unit or ("hour" if span <= timedelta(days=2) else "day")
        end = now
        # Whole buckets, the last one being the current hour or day.
        start = floor_to(now, unit) - span + UNITS[unit]
    if unit == "hour" and _bucket_count(start, end, unit) > MAX_BUCKETS:
        errors["unit"] = _(
            "hourly buckets are for ranges up to %(days)s days; use day", days=MAX_BUCKETS // 24
        )
        start, unit = floor_to(start, "day"), "day"
    if _bucket_count(start, end, unit) > MAX_BUCKETS:
        # Counted, not listed: 1900 to 9998 would be three million buckets to build.
        errors["since"] = _(
            "a range covers at most %(days)s days; give a later start", days=MAX_BUCKETS
        )
        start = floor_to(end - UNITS["day"] * MAX_BUCKETS, "day") + UNITS["day"]
    return StatsRange(start=start, end=end, unit=unit, preset=preset), errors


def _bucket_count(start: datetime, end: datetime, unit: str) -> int:
    return -((start - end) // UNITS[unit])  # whole or partial buckets in [start, end)
