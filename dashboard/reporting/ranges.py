"""The time range a statistics view covers, read from the URL in a zone (the person's own on the
page), and its hourly or daily buckets: that zone's hours and days."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from dashboard.models import utcnow
from dashboard.reporting.history import parse_moment
from dashboard.reporting.zone_buckets import (
    bucket_starts,
    days_before,
    floor_local,
    local,
    offset_stretches,
)

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESETS["90d"] = timedelta(days=90)
DEFAULT_PRESET = "7d"
UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 400
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class StatsRange:
    """[start, end) in naive UTC, cut into buckets of one `unit`: the hours or days of `zone`."""

    start: datetime
    end: datetime
    unit: str
    preset: str = ""  # "" when the range was given as since/until
    zone: ZoneInfo = UTC_ZONE

    def buckets(self) -> list[datetime]:
        """Where each bucket starts (naive UTC): a local midnight or hour of the zone."""
        return bucket_starts(self.start, self.end, self.unit, self.zone)

    def offset_stretches(self) -> list[tuple[datetime, int]]:
        """The zone's UTC offsets over the range (more than one across a clock change)."""
        return offset_stretches(self.start, self.end, self.zone)

    def query_args(self, *, with_offset: bool = False) -> dict[str, str]:
        """The range as URL arguments in its zone (history links use the same since/until);
        `with_offset` writes the zone's offset too, for a reader in any zone (the API)."""
        since = local(self.start, self.zone)
        until = local(self.end - timedelta(microseconds=1), self.zone)
        if not with_offset:
            since, until = since.replace(tzinfo=None), until.replace(tzinfo=None)
        return {
            "since": since.isoformat(timespec="minutes"),
            "until": until.isoformat(timespec="minutes"),
        }

    @property
    def last(self) -> datetime:
        """The range's last second (its end is exclusive)."""
        return self.end - timedelta(seconds=1)


def parse_range(
    args: Mapping[str, str], now: datetime | None = None, zone: ZoneInfo = UTC_ZONE
) -> tuple[StatsRange, dict[str, str]]:
    """A preset (`range=24h|7d|30d|90d`) or `since`/`until` typed in `zone`; `unit=hour|day`,
    the zone's hours or days. Errors by field."""
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
            start = (
                parse_moment(since, end=False, zone=zone)
                if since
                else now - PRESETS[DEFAULT_PRESET]
            )
        except ValueError as error:
            errors["since"] = str(error)
            start = now - PRESETS[DEFAULT_PRESET]
        try:
            end = parse_moment(until, end=True, field="until", zone=zone) if until else now
        except ValueError as error:
            errors["until"] = str(error)
            end = now
        if end <= start:
            errors["until"] = _("the end of the range comes before its start")
            end = start + timedelta(days=1)
        unit = unit or ("hour" if end - start <= timedelta(days=2) else "day")
        start = floor_local(start, unit, zone)
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
        # Whole buckets, the last one being the current hour or day (the zone's).
        if unit == "day":
            start = days_before(now, span.days - 1, zone)
        else:
            start = floor_local(now - span + UNITS[unit], unit, zone)
    if unit == "hour" and _bucket_count(start, end, unit) > MAX_BUCKETS:
        errors["unit"] = _(
            "hourly buckets are for ranges up to %(days)s days; use day", days=MAX_BUCKETS // 24
        )
        start, unit = floor_local(start, "day", zone), "day"
    if _bucket_count(start, end, unit) > MAX_BUCKETS:
        # Counted, not listed: 1900 to 9998 would be three million buckets to build.
        errors["since"] = _(
            "a range covers at most %(days)s days; give a later start", days=MAX_BUCKETS
        )
        start = floor_local(end - UNITS["day"] * (MAX_BUCKETS - 1), "day", zone)
    return StatsRange(start=start, end=end, unit=unit, preset=preset, zone=zone), errors


def _bucket_count(start: datetime, end: datetime, unit: str) -> int:
    """Whole or partial buckets of 24 (or one) hours in [start, end): a local day is within an
    hour of that, so the bound holds to a bucket."""
    return -((start - end) // UNITS[unit])
