"""`GET /api/v1/stats`: the statistics page's numbers as JSON."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.api.blueprint import api
from dashboard.api.serialize import iso
from dashboard.api.stats_schemas import StatsResponse
from dashboard.auth import VIEWER, requires
from dashboard.auth.hosts import public_url
from dashboard.auth.ownership import owner_scope
from dashboard.auth.preferences import zone_exists
from dashboard.errors import invalid_fields
from dashboard.models import MessageStatus
from dashboard.reporting.ranges import parse_range
from dashboard.reporting.statistics import Statistics, compute_statistics


def stats_out(statistics: Statistics) -> StatsResponse:
    found, totals = statistics.range, statistics.totals
    return StatsResponse.model_validate(
        {
            "range": {
                "start": iso(found.start),
                "end": iso(found.end),
                "unit": found.unit,
                "zone": found.zone.key,
            },
            "totals": {
                "counts": totals.counts,
                "sent": totals.count(MessageStatus.SENT),
                "failed": totals.count(MessageStatus.FAILED),
                "queued": totals.count(MessageStatus.QUEUED),
                "scheduled": totals.count(MessageStatus.SCHEDULED),
                "bounced": totals.count(MessageStatus.BOUNCED),
                "complaints": totals.complaints,
                "retried": totals.retried,
                "duplicates": totals.duplicates,
                "total": totals.total,
                "success_rate": totals.success_rate,
            },
            "series": [
                {"start": iso(p.start), "sent": p.sent, "failed": p.failed}
                for p in statistics.series
            ],
            "failures": [
                {
                    "code": group.code,
                    "domain": group.domain,
                    "count": group.count,
                    "history_url": public_url(
                        "history.index",
                        status="failed",
                        code=group.code or "",
                        domain=group.domain,
                        **found.query_args(with_offset=True),
                    ),
                }
                for group in statistics.failures
            ],
            "campaigns": [
                {
                    "id": c.id,
                    "subject": c.subject,
                    "created_at": iso(c.created_at),
                    "recipients": c.recipients,
                    "sent": c.sent,
                    "failed": c.failed,
                    "success_rate": c.success_rate,
                    "duration_seconds": c.duration_seconds,
                    "messages_per_second": c.per_second,
                }
                for c in statistics.campaigns
            ],
            "throughput": [
                {
                    "campaign_id": run.campaign_id,
                    "per_minute": [
                        {"start": iso(moment), "sent": count, "failed": 0}
                        for moment, count in run.per_minute
                    ],
                }
                for run in statistics.throughput
            ],
        }
    )


# The query parameters the document lists; any other is refused, so that a misspelt one
# (`rnage=30d`) is reported instead of silently answered with the default range.
STATS_PARAMETERS = ("range", "since", "until", "unit", "zone")


@api.get("/stats")
@requires(VIEWER)
def get_stats():
    zone_name = (request.args.get("zone") or "").strip() or "UTC"
    zone_error = None if zone_exists(zone_name) else zone_name
    found, errors = parse_range(request.args, zone=ZoneInfo("UTC" if zone_error else zone_name))
    if zone_error is not None:
        errors["zone"] = _(
            "'%(value)s' is not a time zone name; try UTC or Asia/Ho_Chi_Minh",
            value=zone_error[:40],
        )
    for name in sorted(set(request.args) - set(STATS_PARAMETERS)):
        errors[name[:40]] = _("is not a parameter here; use range, since, until, unit or zone")
    if errors:
        return invalid_fields(_("The range was not understood"), errors)
    return jsonify(
        stats_out(compute_statistics(found, owner_id=owner_scope(current_user))).model_dump(
            mode="json"
        )
    )
