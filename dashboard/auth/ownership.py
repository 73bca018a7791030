"""Whose campaigns a person may read and act on: the one rule, for pages and API alike.

- An admin reads and acts on every campaign.
- A viewer reads every campaign and acts on none.
- A sender reads and acts on their own campaigns only (those they submitted).

A campaign with no owner (submitted from the console, or before owners existed) is nobody's:
admins and viewers see it, senders do not. A campaign someone may not read is a 404 to them
(its existence is not told); one they may read but not act on is a 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import select

from dashboard.auth.roles import ADMIN, SENDER, VIEWER
from dashboard.extensions import db
from dashboard.models import Campaign, Message, User


def reads_every_campaign(user: User) -> bool:
    return user.role in (ADMIN, VIEWER)


def owner_scope(user: User) -> int | None:
    """The owner a list of campaigns (or their messages) must be limited to: None for all."""
    return None if reads_every_campaign(user) else user.id


def may_read(user: User, campaign: Campaign) -> bool:
    return reads_every_campaign(user) or (
        campaign.owner_id is not None and campaign.owner_id == user.id
    )


def may_act(user: User, campaign: Campaign) -> bool:
    if user.role == ADMIN:
        return True
    return user.role == SENDER and campaign.owner_id is not None and campaign.owner_id == user.id


def campaign_for(user: User, campaign_id: int, *, to_act: bool = False) -> Campaign:
    """The campaign, if `user` may read it (and act on it, with `to_act`); else 404 or 403."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not may_read(user, campaign):
        abort(404, _("There is no such campaign."))
    if to_act and not may_act(user, campaign):
        abort(403, _("This campaign is not yours to change."))
    return campaign


def message_for(user: User, message_id: int, *, to_act: bool = False) -> Message:
    """The message, under the same rule as its campaign."""
    message = db.session.get(Message, message_id)
    if message is None:
        abort(404, _("There is no such message."))
    campaign_for(user, message.campaign_id, to_act=to_act)
    return message


def check_messages_readable(user: User, messages: Iterable[Message]) -> None:
    """404 unless `user` may read the campaign of every one of `messages` (a task's batch)."""
    if reads_every_campaign(user):
        return
    campaign_ids = {message.campaign_id for message in messages}
    owners = set(db.session.scalars(select(Campaign.owner_id).where(Campaign.id.in_(campaign_ids))))
    if owners != {user.id}:
        abort(404, _("There is no such task."))
