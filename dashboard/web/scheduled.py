"""The scheduled-jobs page: campaigns waiting for their time, each movable or cancellable
before it is due. Times are shown and entered in DISPLAY_TIMEZONE."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth import SENDER, VIEWER, requires
from dashboard.auth.ownership import campaign_for, owner_scope
from dashboard.campaigns.control import cancel_campaign
from dashboard.models import Campaign, MessageStatus, counts_by_state
from dashboard.sending.field_errors import FieldError
from dashboard.sending.schedule import (
    display_zone,
    move_schedule,
    parse_local,
    upcoming_campaigns,
)
from dashboard.web.formatting import when
from dashboard.web.forms import ActionForm, MoveForm

scheduled = Blueprint("scheduled", __name__, url_prefix="/scheduled")


def _waiting_counts(campaigns: list[Campaign]) -> dict[int, int]:
    counts = counts_by_state([campaign.id for campaign in campaigns])
    return {cid: by_state.get(MessageStatus.SCHEDULED, 0) for cid, by_state in counts.items()}


def _page(errors: dict[int, str] | None = None, status: int = 200):
    campaigns = upcoming_campaigns(owner_id=owner_scope(current_user))
    return render_template(
        "scheduled.html",
        campaigns=campaigns,
        waiting=_waiting_counts(campaigns),
        errors=errors or {},
        zone=display_zone().key,
        move_form=MoveForm(formdata=None),
        cancel_form=ActionForm(formdata=None),
    ), status


@scheduled.get("/")
@requires(VIEWER)
def index():
    return _page()


@scheduled.post("/<int:campaign_id>/move")
@requires(SENDER)
def move(campaign_id: int):
    campaign = campaign_for(current_user, campaign_id, to_act=True)
    form = MoveForm()
    if not form.validate_on_submit():
        return _page({campaign_id: _("The form expired; reload the page and try again.")}, 400)
    text = (form.send_at.data or "").strip()
    if not text:
        return _page({campaign_id: _("send_at: give the new date and time")}, 422)
    try:
        moved = move_schedule(campaign, parse_local(text))
    except FieldError as error:
        return _page({campaign_id: f"{error.field}: {error}"}, 422)
    if not moved:
        return _page(
            {campaign_id: _("It is already due or no longer scheduled; nothing moved.")}, 409
        )
    flash(
        _(
            "Campaign #%(id)s: %(n)s message(s) moved to %(when)s.",
            id=campaign_id,
            n=moved,
            when=when(campaign.send_at, "minute"),
        ),
        "ok",
    )
    return redirect(url_for("scheduled.index"), 303)


@scheduled.post("/<int:campaign_id>/cancel")
@requires(SENDER)
def cancel(campaign_id: int):
    campaign = campaign_for(current_user, campaign_id, to_act=True)
    if not ActionForm().validate_on_submit():
        return _page({campaign_id: _("The form expired; reload the page and try again.")}, 400)
    count = cancel_campaign(campaign)
    flash(
        _(
            "Campaign #%(id)s is cancelled: %(n)s message(s) will not be sent.",
            id=campaign_id,
            n=count,
        ),
        "ok",
    )
    return redirect(url_for("scheduled.index"), 303)
