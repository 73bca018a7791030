"""Job pages: the list of recent jobs and each job's live status table."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Campaign, CampaignProgress, Message, MessageStatus

jobs = Blueprint("jobs", __name__, url_prefix="/jobs")

ROWS_SHOWN = 500


def progress_by_campaign(campaigns: list[Campaign]) -> dict[int, CampaignProgress]:
    """Counts by state for many campaigns in one query."""
    campaign_ids = [c.id for c in campaigns]
    paused = {c.id for c in campaigns if c.is_paused}
    counts: dict[int, dict[MessageStatus, int]] = {cid: {} for cid in campaign_ids}
    rows = db.session.execute(
        select(Message.campaign_id, Message.status, func.count())
        .where(Message.campaign_id.in_(campaign_ids))
        .group_by(Message.campaign_id, Message.status)
    )
    known = {status.value for status in MessageStatus}
    for campaign_id, status, count in rows:
        if status in known:  # a status this version does not know is not counted, as in the stats
            counts[campaign_id][MessageStatus(status)] = count
    return {cid: CampaignProgress(c, paused=cid in paused) for cid, c in counts.items()}


@jobs.get("/")
def index():
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(50)).all()
    progress = progress_by_campaign(campaigns)
    return render_template("jobs.html", campaigns=campaigns, progress=progress)


@jobs.get("/<int:campaign_id>")
def detail(campaign_id: int):
    """The whole page, or only its live status partial when HTMX polls it."""
    campaign = db.session.get(Campaign, campaign_id) or abort(404, "There is no such job.")
    messages = db.session.scalars(
        select(Message)
        .where(Message.campaign_id == campaign_id)
        .order_by(Message.id)
        .limit(ROWS_SHOWN)
    ).all()
    context = {
        "campaign": campaign,
        "progress": campaign.progress(),
        "messages": messages,
        "rows_shown": ROWS_SHOWN,
    }
    if request.headers.get("HX-Request"):
        return render_template("partials/job_status.html", **context)
    return render_template("job.html", **context)
