"""The failure guard: a campaign whose recent attempts fail too often pauses itself, so a broken
account or a blocklisting does not burn through the whole list.

A failure here is a refusal the server means: a 5xx reply (a permanent refusal, or a rejected
login). 4xx replies and connection errors are the server's passing trouble; they are retried
and never pause a campaign (the SMTP server being down for a minute must not stop one).
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.mail.sentences import english
from dashboard.mail.smtp import Outcome
from dashboard.models import Campaign, DeliveryAttempt, Message
from dashboard.sending.holds import pause_campaign
from dashboard.sending.stored_texts import PAUSED_FOR_FAILURES


def is_failure(outcome: str, smtp_code: int | None) -> bool:
    """A refusal by the server. A message stopped before SMTP (a suppressed address, a row its
    template cannot render) says nothing about the account, so it does not count."""
    # A bounce read back later (its attempt row is `bounced`) is counted by the bounce-rate
    # guard (dashboard/bounces/), not here.
    return (
        smtp_code is not None
        and 500 <= smtp_code < 600
        and outcome in (Outcome.PERMANENT, Outcome.TRANSIENT)
    )


def failures_in_window(campaign: Campaign, window: int) -> int:
    """How many of the campaign's last `window` attempts (since its last resume) failed."""
    query = (
        select(DeliveryAttempt.outcome, DeliveryAttempt.smtp_code)
        .join(Message, Message.id == DeliveryAttempt.message_id)
        .where(Message.campaign_id == campaign.id)
        .order_by(DeliveryAttempt.id.desc())
        .limit(window)
    )
    if campaign.resumed_at is not None:
        query = query.where(DeliveryAttempt.finished_at >= campaign.resumed_at)
    recent = db.session.execute(query).all()
    return sum(is_failure(outcome, code) for outcome, code in recent)


def pause_failing_campaigns(message_ids: Sequence[int]) -> list[int]:
    """Check the campaigns of these just-recorded messages; pause each past the threshold.

    The threshold is FAILURE_PAUSE_PERCENT of the last FAILURE_PAUSE_WINDOW attempts, counted
    against the whole window (so a small campaign pauses after the same number of failures as a
    big one). Returns the ids of the campaigns paused now.
    """
    percent = float(current_app.config["FAILURE_PAUSE_PERCENT"])
    window = int(current_app.config["FAILURE_PAUSE_WINDOW"])
    if percent <= 0 or window <= 0 or not message_ids:
        return []
    limit = percent * window / 100
    campaigns = db.session.scalars(
        select(Campaign).where(
            Campaign.id.in_(select(Message.campaign_id).where(Message.id.in_(message_ids))),
            Campaign.paused_at.is_(None),
            Campaign.cancelled_at.is_(None),
        )
    ).all()
    paused = []
    for campaign in campaigns:
        failures = failures_in_window(campaign, window)
        if failures > limit:
            reason = english(
                PAUSED_FOR_FAILURES, failures=failures, window=window, percent=f"{percent:g}"
            )
            if pause_campaign(campaign, reason):
                paused.append(campaign.id)
    return paused
