"""The sweeper: rows stuck in `queued` (their task was lost with the broker) or `sending` (their
worker died) past the timeouts are put back on the broker; a stale `sending` row is resent once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import (
    Message,
    MessageStatus,
    held_campaigns,
    utcnow,
)
from dashboard.sending.claims import log_stale_attempts
from dashboard.sending.publishing import publish_messages

log = logging.getLogger(__name__)


def stale_sending_seconds() -> float:
    """How long a row may stay `sending`: the setting, or longer when the rate limit makes one
    batch take longer than that."""
    config = current_app.config
    seconds = float(config["STALE_SENDING_SECONDS"])
    per_second = float(config["RATE_LIMIT_PER_SECOND"])
    if per_second > 0:
        seconds = max(seconds, 2 * int(config["MAIL_BATCH_SIZE"]) / per_second)
    return seconds


def sweep_stale(now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue rows stuck in `queued` (their task was lost with the broker) or `sending`
    (their worker died) past the timeouts.

    A stale `sending` row may or may not have reached the server, so it is resent once (at
    least once; a possible duplicate, logged as a `stale` attempt) and failed if it sticks again.
    """
    now = now or utcnow()
    config = current_app.config
    queued_cutoff = now - timedelta(seconds=float(config["STALE_QUEUED_SECONDS"]))
    sending_cutoff = now - timedelta(seconds=stale_sending_seconds())
    held = held_campaigns()
    with transaction():
        requeued = list(
            db.session.scalars(
                update(Message)
                .where(
                    Message.status == MessageStatus.QUEUED,
                    Message.updated_at < queued_cutoff,
                    Message.campaign_id.not_in(held),
                )
                .values(updated_at=now)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        stuck = (Message.status == MessageStatus.SENDING, Message.claimed_at < sending_cutoff)
        resent = list(
            db.session.scalars(
                update(Message)
                .where(*stuck, Message.stale_resends == 0)
                .values(
                    status=MessageStatus.QUEUED,
                    stale_resends=Message.stale_resends + 1,
                    updated_at=now,
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        reply = "was still sending when its worker stopped; resent once (it may arrive twice)"
        log_stale_attempts(resent, now, reply, by="sweeper")
        failed = db.session.execute(
            update(Message)
            .where(*stuck, Message.stale_resends > 0)
            .values(
                status=MessageStatus.FAILED,
                last_reply="stuck in sending again after one resend; not resent a second time",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    publish_messages(sorted(requeued + resent))
    report = {"requeued": len(requeued), "resent": len(resent), "failed": failed or 0}
    if any(report.values()):
        log.warning("sweeper: %s", report)
    return report
