"""Leases: a batch holds the rows it claimed by a token and an expiry stamped on them, renewed by
one conditional UPDATE every third of the lease while it works. Before each message the batch
makes sure its lease is fresh and its earlier outcomes are written; a row whose lease ran out
may be given to another batch by the sweeper, and the old owner's next renewal no longer
returns it, so the old owner never sends it.

While the database refuses (a restart, a lost connection, SQLite locked past its busy timeout)
the batch stops sending and tries again with backoff until the database answers or its lease
runs out; then it stops, and its rows are the sweeper's once the lease has expired.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from dashboard.database import DATABASE_AWAY
from dashboard.extensions import db
from dashboard.models import Message, MessageStatus, utcnow

log = logging.getLogger(__name__)

#: The shortest lease a setting may ask for: a renewal every third of it must stay cheap.
MIN_LEASE_SECONDS = 6.0
#: Backoff between tries while the database is away: doubling from the first to the cap.
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 3.0


def lease_seconds(config: Mapping[str, Any]) -> float:
    """How long a claim or a renewal holds a row (`LEASE_SECONDS`)."""
    return max(MIN_LEASE_SECONDS, float(config["LEASE_SECONDS"]))


def new_token() -> str:
    """A claim's token: unique per claim, so a batch's renewal never matches another's rows."""
    return uuid.uuid4().hex


def lease_expiry(seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=seconds)


def backoff(delay: float) -> float:
    """The next wait: doubled, with jitter, never above the cap."""
    return min(MAX_BACKOFF_SECONDS, delay * 2) * random.uniform(0.75, 1.0)


class Lease:
    """The rows a batch holds under its token, and until when it surely holds them.

    `renewed` is when the last successful renewal (or the claim) began, by this process's
    clock: the rows' expiry in the database is at least that plus the lease, so until then no
    sweeper can have given them away.
    """

    def __init__(self, token: str, message_ids: Collection[int], seconds: float) -> None:
        self.token = token
        self.seconds = seconds
        self.held = set(message_ids)
        self.renewed = time.monotonic()

    @property
    def expires(self) -> float:
        """When, by `time.monotonic()`, the rows may be given away if not renewed."""
        return self.renewed + self.seconds

    def due(self) -> bool:
        return time.monotonic() - self.renewed >= self.seconds / 3

    def holds(self, message_id: int) -> bool:
        return message_id in self.held

    def renew(self) -> set[int]:
        """Push the expiry of the rows still held one lease ahead, in one UPDATE conditional on
        the token; what it returns is what the batch still holds (rows recorded meanwhile have
        left `sending`; rows the sweeper took have lost the token)."""
        started = time.monotonic()
        if self.held:
            try:
                still = db.session.scalars(
                    update(Message)
                    .where(
                        Message.id.in_(sorted(self.held)),
                        Message.status == MessageStatus.SENDING,
                        Message.lease_token == self.token,
                    )
                    .values(lease_expires_at=lease_expiry(self.seconds))
                    .returning(Message.id)
                    .execution_options(synchronize_session=False)
                ).all()
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
            self.held = set(still)
        self.renewed = started
        return self.held

    def renew_if_due(self) -> None:
        """Renew when a third of the lease has passed; a database away is left for `keep`."""
        if self.due():
            try:
                self.renew()
            except DATABASE_AWAY as error:
                log.warning("lease %s not renewed: %s", self.token, type(error).__name__)

    def keep(self, settle: Callable[[], None]) -> bool:
        """Before the batch sends on: `settle` (write what is unrecorded) and renew when due,
        trying again with backoff while the database is away. False once the lease would run
        out first: the batch must send nothing more."""
        delay = FIRST_BACKOFF_SECONDS
        while True:
            try:
                settle()
                if self.due():
                    self.renew()
                return True
            except DATABASE_AWAY as error:
                db.session.rollback()
                left = self.expires - time.monotonic()
                if left <= delay:
                    log.error(
                        "lease %s ran out while the database was away (%s): the batch stops",
                        self.token,
                        type(error).__name__,
                    )
                    return False
                log.warning(
                    "database away (%s): lease %s waits %.1f s (%.0f s left)",
                    type(error).__name__,
                    self.token,
                    delay,
                    left,
                )
                time.sleep(delay)
                delay = backoff(delay)
