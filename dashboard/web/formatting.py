"""How the pages write times and numbers: in the person's language (`1,234` / `1.234`,
`2026-12-01` / `01/12/2026`) and their own time zone. The one set of template filters for it."""

from __future__ import annotations

from datetime import datetime, tzinfo

from flask import Flask
from flask_babel import format_datetime, format_decimal, format_percent, get_locale, gettext
from flask_babel import lazy_gettext as _l

from dashboard.auth.preferences import LANGUAGES
from dashboard.auth.roles import ROLE_LABELS, role_label
from dashboard.models import SuppressionReason
from dashboard.reporting.zone_buckets import local
from dashboard.sending import stored_texts
from dashboard.sending.schedule import display_zone, to_display
from dashboard.sending.stored_texts import translated

# Patterns per language: English keeps the ISO order people paste into filters; Vietnamese
# writes the day first, as a Vietnamese office does.
_PATTERNS = {
    "en": {"second": "yyyy-MM-dd HH:mm:ss", "minute": "yyyy-MM-dd HH:mm", "date": "yyyy-MM-dd"},
    "vi": {"second": "dd/MM/yyyy HH:mm:ss", "minute": "dd/MM/yyyy HH:mm", "date": "dd/MM/yyyy"},
}
_DASH = "—"
# A chart's buckets, labelled as each language writes a day and an hour.
_BUCKET_PATTERNS = {
    "en": {"day": "yyyy-MM-dd", "hour": "yyyy-MM-dd HH", "minute": "yyyy-MM-dd HH:mm"},
    "vi": {"day": "dd/MM/yyyy", "hour": "dd/MM/yyyy HH'h'", "minute": "dd/MM/yyyy HH:mm"},
}
# Under a chart's axis: an hour alone, and with its day where a day begins.
_TICK_PATTERNS = {
    "en": {"clock": "HH:mm", "day-hour": "MM-dd HH:mm"},
    "vi": {"clock": "HH'h'", "day-hour": "dd/MM HH'h'"},
}
UNIT_NAMES = {"minute": _l("minute"), "hour": _l("hour"), "day": _l("day")}
# What a state is called on a page; the state itself (a CSS class, a filter value) stays English.
_STATES = {
    "draft": _l("draft"),
    "scheduled": _l("scheduled"),
    "queued": _l("queued"),
    "sending": _l("sending"),
    "retrying": _l("retrying"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
    "bounced": _l("bounced"),
    "paused": _l("paused"),
    "partly sent": _l("partly sent"),
    "importing": _l("importing"),
    "import failed": _l("import failed"),
    "permanent": _l("permanent"),
    "transient": _l("transient"),
}

# Codes a page names in words: where a campaign came from, a person's role, an audit action.
_WORDS = {
    "form": _l("Compose"),
    "api": "API",
    "csv": _l("CSV file"),
    "cli": _l("command line"),
    # The audit trail's actor for what no person did, and its actions.
    "system": _l("system"),
    "sign-in": _l("signed in"),
    "sign-in-failed": _l("sign-in failed"),
    "sign-out": _l("signed out"),
    "sessions-ended": _l("signed out everywhere"),
    "password-changed": _l("password changed"),
    "password-set": _l("password set"),
    "user-created": _l("user added"),
    "user-disabled": _l("user disabled"),
    "user-enabled": _l("user enabled"),
    "role-changed": _l("role changed"),
    "token-created": _l("token created"),
    "token-revoked": _l("token revoked"),
    "sent": _l("sent"),
    "scheduled": _l("scheduled"),
    "rescheduled": _l("rescheduled"),
    "paused": _l("paused"),
    "resumed": _l("resumed"),
    "cancelled": _l("cancelled"),
    "retried": _l("retried"),
    "suppressed": _l("suppressed"),
    "unsuppressed": _l("unsuppressed"),
    "account-added": _l("sending account added"),
    "account-changed": _l("sending account changed"),
    "account-removed": _l("sending account removed"),
    "pool-added": _l("account pool added"),
    "pool-changed": _l("account pool changed"),
    "pool-removed": _l("account pool removed"),
    "webhook-created": _l("webhook added"),
    "webhook-enabled": _l("webhook enabled"),
    "webhook-disabled": _l("webhook disabled"),
    "webhook-deleted": _l("webhook deleted"),
    "webhook-replayed": _l("webhook events sent again"),
    "draft-deleted": _l("draft deleted"),
}


def when(stored: datetime | None, precision: str = "second") -> str:
    """A stored (naive UTC) time in the person's zone and language; "" for none."""
    if stored is None:
        return ""
    patterns = _PATTERNS.get(str(get_locale()), _PATTERNS["en"])
    # Converted by the app's own rule (to_display keeps the far end of year 9999 in UTC).
    return format_datetime(to_display(stored), patterns[precision], rebase=False)


def bucket_label(start: datetime, unit: str, zone: tzinfo | None = None) -> str:
    """A chart bucket's start (stored, naive UTC) in `zone` (else the person's own), in the
    reader's way of writing dates."""
    patterns = _BUCKET_PATTERNS.get(str(get_locale()), _BUCKET_PATTERNS["en"])
    return format_datetime(local(start, zone or display_zone()), patterns[unit], rebase=False)


def hour_ticks(starts: list[datetime], step: int, zone: tzinfo) -> list[str]:
    """Labels under an hourly chart (every `step`-th is shown): the hour, and the day too on the
    first one shown and on the first shown of each new day."""
    patterns = _TICK_PATTERNS.get(str(get_locale()), _TICK_PATTERNS["en"])
    labels, shown_day = [], None
    for index, start in enumerate(starts):
        moment = local(start, zone)
        new_day = index % step == 0 and moment.date() != shown_day
        if index % step == 0:
            shown_day = moment.date()
        pattern = patterns["day-hour"] if new_day else patterns["clock"]
        labels.append(format_datetime(moment, pattern, rebase=False))
    return labels


def input_time(stored: datetime | None) -> str:
    """A stored time as a datetime-local input holds it, in the person's zone."""
    return to_display(stored).strftime("%Y-%m-%dT%H:%M") if stored else ""


def number(value: float | int | None, digits: int | None = None) -> str:
    """A count or a measure with the language's separators; `digits` fixes the decimals."""
    if value is None:
        return _DASH
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern)


def file_size(size: int) -> str:
    """A file's size as a person reads it: bytes, KB or MB, with the language's separators."""
    if size < 1024:
        return gettext("%(n)s bytes", n=number(size))
    if size < 1024 * 1024:
        return gettext("%(size)s KB", size=number(size / 1024, 1))
    return gettext("%(size)s MB", size=number(size / (1024 * 1024), 1))


def percent(value: float | None) -> str:
    """A ratio as a percentage with one decimal (`95.3%`, `95,3%`), a dash for none."""
    return _DASH if value is None else format_percent(value, "#,##0.0%")


def state(value: object) -> str:
    """A message's or campaign's state as the page calls it (`sent`, `đã gửi`)."""
    name = str(value)
    return str(_STATES.get(name, name))


def word(value: object) -> str:
    """A campaign's source, a role or an audit action as the page calls it (`form`: `Soạn thư`);
    anything else (an address) as it is."""
    name = str(value)
    if name in ROLE_LABELS:
        return role_label(name)
    return str(_WORDS.get(name, name))


_SUPPRESSION_REASONS = {
    SuppressionReason.MANUAL: _l("added by hand"),
    SuppressionReason.BOUNCED: _l("bounced"),
    SuppressionReason.UNSUBSCRIBED: _l("unsubscribed"),
    SuppressionReason.COMPLAINED: _l("complained"),
    SuppressionReason.CSV: _l("from a CSV file"),
}


def suppression_reason(value: object) -> str:
    """Why an address is on the suppression list, as the page says it (`manual`: `added by
    hand`); an unknown code as it is."""
    name = str(value)
    return str(_SUPPRESSION_REASONS.get(name, name))


def audit_detail(detail: str | None, action: str | None = None) -> str:
    """An audit event's detail in the reader's language, the codes it holds (where recipients
    came from, a role, why an address is suppressed) in words."""
    labels = {
        "source": word,
        "role": role_label,
        "old_role": role_label,
        "new_role": role_label,
        "reason": suppression_reason,
    }
    return stored_texts.audit_detail(detail, action, labels)


def zone_name() -> str:
    """The name of the zone the page's times are in (an IANA name: Asia/Ho_Chi_Minh)."""
    return display_zone().key


def init_formatting(app: Flask) -> None:
    app.add_template_filter(when)
    app.add_template_filter(input_time)
    app.add_template_filter(number)
    app.add_template_filter(percent)
    app.add_template_filter(file_size)
    app.add_template_filter(state)
    app.add_template_filter(word)
    app.add_template_filter(bucket_label, "bucket")
    # A sentence the system stored in English (a pause reason, why a message waits).
    app.add_template_filter(translated, "stored")
    app.add_template_filter(audit_detail)
    app.add_template_filter(suppression_reason)
    app.add_template_global(zone_name)
    app.add_template_global(get_locale, "current_locale")
    app.add_template_global(LANGUAGES, "languages")
