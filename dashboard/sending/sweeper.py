"""The sweeper: rows stuck in `queued` (their task was lost with the broker) past the timeout, or
`sending` with their lease run out (their batch died, or lost the database for a whole lease),
are put back on the broker; a stale `sending` row is resent once. Rows whose task was lost are
found sooner on a lane whose broker queue is empty (`lost_tasks`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import (
    SENDING_ROWS,
    Message,
    MessageStatus,
    held_campaigns,
    utcnow,
)
from dashboard.sending.claims import lease_ran_out, log_stale_attempts
from dashboard.sending.leases import lease_seconds
from dashboard.sending.lost_tasks import republish_lost_tasks
from dashboard.sending.publishing import publish_messages
from dashboard.webhooks.outbox import enqueue_failures

log = logging.getLogger(__name__)


def sweep_stale(now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue rows stuck in `queued` (their task was lost with the broker) past the timeout,
    or `sending` whose lease ran out: a live batch renews its lease however long it works (a
    slow server, a low shared rate), so only a batch that died or lost the database lets it run
    out.

    A stale `sending` row may or may not have reached the server, so it is resent once (at
    least once; a possible duplicate, logged as a `stale` attempt) and failed if it sticks again.
    """
    now = now or utcnow()
    config = current_app.config
    queued_cutoff = now - timedelta(seconds=float(config["STALE_QUEUED_SECONDS"]))
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
        # Said as the lease index's own condition (`SENDING_ROWS`, a literal), so either database
        # may read only the `sending` rows through an index.
        stuck = (SENDING_ROWS, lease_ran_out(now, lease_seconds(config)))
        resent = list(
            db.session.scalars(
                update(Message)
                .where(*stuck, Message.stale_resends == 0)
                .values(
                    status=MessageStatus.QUEUED,
                    stale_resends=Message.stale_resends + 1,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        reply = "was still sending when its worker stopped; resent once (it may arrive twice)"
        log_stale_attempts(resent, now, reply, by="sweeper")
        gave_up = "stuck in sending again after one resend; not resent a second time"
        failed_ids = db.session.scalars(
            update(Message)
            .where(*stuck, Message.stale_resends > 0)
            .values(status=MessageStatus.FAILED, last_reply=gave_up, updated_at=now)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        ).all()
        enqueue_failures(db.session, failed_ids, gave_up)
        failed = len(failed_ids)
    publish_messages(sorted(requeued + resent))
    republished = republish_lost_tasks(now)
    report = {
        "requeued": len(requeued),
        "resent": len(resent),
        "failed": failed or 0,
        "republished": republished,
    }
    if any(report.values()):
        log.warning("sweeper: %s", report)
    return report
