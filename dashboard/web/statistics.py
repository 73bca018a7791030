"""The statistics page, its chart, and the live system panel it loads after the first paint."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth import VIEWER, requires
from dashboard.auth.ownership import owner_scope
from dashboard.models import MessageStatus
from dashboard.ops.system_status import system_status
from dashboard.reporting.campaign_stats import Throughput
from dashboard.reporting.charts import BarChart, grouped_bars, label_step
from dashboard.reporting.history import status_choices
from dashboard.reporting.ranges import PRESETS, parse_range
from dashboard.reporting.statistics import Statistics, compute_statistics
from dashboard.sending.schedule import display_zone, to_display
from dashboard.web.formatting import UNIT_NAMES, bucket_label, hour_ticks, state

stats = Blueprint("stats", __name__, url_prefix="/stats")


def outcome_chart(statistics: Statistics) -> BarChart:
    found, series = statistics.range, statistics.series
    starts = [point.start for point in series]
    ticks = (
        hour_ticks(starts, label_step(len(starts)), found.zone) if found.unit == "hour" else None
    )
    return grouped_bars(
        [bucket_label(start, found.unit, found.zone) for start in starts],
        [
            ("sent", state("sent"), [point.sent for point in series]),
            ("failed", state("failed"), [point.failed for point in series]),
        ],
        title=_(
            "Messages sent and failed per %(unit)s", unit=UNIT_NAMES.get(found.unit, found.unit)
        ),
        tick_labels=ticks,
    )


def throughput_charts(statistics: Statistics) -> list[tuple[Throughput, BarChart]]:
    return [
        (
            run,
            grouped_bars(
                # Minutes in the person's zone, as every other time on the pages.
                [to_display(moment).strftime("%H:%M") for moment, _count in run.per_minute],
                [("throughput", _("delivered"), [count for _, count in run.per_minute])],
                title=_("Messages per minute, campaign #%(id)s", id=run.campaign_id),
                height=140,
            ),
        )
        for run in statistics.throughput
    ]


@stats.get("/")
@requires(VIEWER)
def index():
    found, errors = parse_range(request.args, zone=display_zone())
    statistics = compute_statistics(found, owner_id=owner_scope(current_user))
    return render_template(
        "stats.html",
        statistics=statistics,
        errors=errors,
        chart=outcome_chart(statistics),
        throughput=throughput_charts(statistics),
        presets=list(PRESETS),
        statuses=status_choices(),
        MessageStatus=MessageStatus,
    ), (422 if errors else 200)


@stats.get("/system")
@requires(VIEWER)
def system():
    """The live panel alone; the page polls it (the system can always change)."""
    status = system_status(current_app.extensions["celery"])
    return render_template("partials/system_panel.html", system=status)
