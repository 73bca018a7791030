"""Job pages: the list of recent jobs and each job's live status table."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign, Message, progress_of

jobs = Blueprint("jobs", __name__, url_prefix="/jobs")

ROWS_SHOWN = 500


@jobs.get("/")
def index():
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(50)).all()
    progress = progress_of(campaigns)
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
