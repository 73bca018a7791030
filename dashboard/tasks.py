"""Celery tasks: thin wrappers that load ids, call the mail code and report outcomes by signal."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta

import redis
from celery import shared_task
from flask import current_app

from dashboard.bounces.mailbox import poll_mailbox
from dashboard.campaigns.drafts import remove_abandoned_drafts
from dashboard.campaigns.importer import run_import
from dashboard.database import DATABASE_AWAY
from dashboard.extensions import db
from dashboard.mail.rate_limit import QuotaExhausted, next_window
from dashboard.mail.smtp import DeliveryResult, Envelope, Outcome, StopSending
from dashboard.models import utcnow
from dashboard.sending.accounts.delivery import AccountsWaiting, deliver_through, route_waiting
from dashboard.sending.accounts.health import probe_held_accounts
from dashboard.sending.accounts.routes import accounts_for_batch
from dashboard.sending.batch_content import prepare_batch
from dashboard.sending.claims import claim_batch
from dashboard.sending.dispatcher import dispatch_due
from dashboard.sending.failure_guard import is_failure
from dashboard.sending.holds import HoldWatch, release_unsent
from dashboard.sending.housekeeping import ran_recently, stamp_run
from dashboard.sending.leases import Lease, lease_seconds, new_token
from dashboard.sending.queues import (
    DELIVER_WEBHOOKS,
    DISPATCH_DUE,
    IMPORT_CSV,
    POLL_BOUNCES,
    PROBE_ACCOUNT,
    PRUNE_WEBHOOKS,
    REMOVE_DRAFTS,
    SEND_BATCH,
    SWEEP_STALE,
)
from dashboard.sending.retries import hand_back, retry_delay
from dashboard.sending.slices import (
    note_pace,
    put_back,
    slice_seconds,
    split_for_rate,
    until_slice_ends,
)
from dashboard.sending.sweeper import sweep_stale
from dashboard.signals import delivery_results, recorded
from dashboard.webhooks.delivery import deliver_due
from dashboard.webhooks.retention import prune_settled_events

log = logging.getLogger(__name__)

# Each flush is a transaction of four statements or more: flushing every 50 results instead of
# 250 cost a bulk worker 8% more CPU, and every 500 saves a few percent more. Not 1,000: on
# SQLite a single email waits for the write lock a flush holds, and its median wait during a
# fast campaign went from 26 ms (every 250) to 43 ms (bench/transactional_latency.py).
# Results the failure guard counts still go at the old pace, so a failing campaign is paused as
# soon as before.
FLUSH_EVERY_RESULTS = 500
FLUSH_EVERY_FAILING_RESULTS = 50
FLUSH_EVERY_SECONDS = 1.0
# A rate limiter that cannot be reached holds its messages back this long, then they go again.
LIMITER_DOWN_RETRY_SECONDS = 10
# A batch that cannot claim because the database is away goes again later, backing off from
# 1 s to this, this many times (then its rows are the sweeper's, still `queued`).
CLAIM_RETRY_MAX_SECONDS = 30
CLAIM_RETRIES = 20


class _Report:
    """Collects per-recipient results and hands them to the signal handlers in bulk."""

    def __init__(
        self,
        task,
        *,
        attempts: Mapping[int, int],
        recipients: Mapping[int, tuple[int, str]],
        subjects: Mapping[int, str],
        config: Mapping,
    ) -> None:
        self.task = task
        self.attempts = attempts  # per message, counting the one being made now
        self.recipients = recipients  # per message, its campaign and recipient's domain
        self.subjects = subjects  # per merge message rendered, its subject (filled as it goes)
        self.config = config
        self.pending: list[DeliveryResult] = []
        self.counts = {outcome.value: 0 for outcome in Outcome}
        self.done: set[int] = set()
        self.failing = False  # whether a pending result is one the failure guard counts
        self.unrecorded = False  # whether writing the pending results failed: none may be sent
        self.last_flush = time.monotonic()

    def add(self, result: DeliveryResult) -> None:
        self.pending.append(result)
        self.done.add(result.key)
        self.counts[result.outcome.value] += 1
        self.failing = self.failing or is_failure(result.outcome.value, result.code)
        if not self.unrecorded and (
            len(self.pending) >= FLUSH_EVERY_RESULTS
            or (self.failing and len(self.pending) >= FLUSH_EVERY_FAILING_RESULTS)
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        ):
            # Kept when the database is away: the batch writes them again (`settle`) first.
            with contextlib.suppress(*DATABASE_AWAY):
                self.flush()

    def settle(self) -> None:
        """Write the results a flush failed to write, if any (raises while the database is
        away: the batch's lease waits and calls again)."""
        if self.unrecorded:
            self.flush()

    def retry_at(self, message_id: int, now: datetime) -> datetime | None:
        """When a transient failure goes again: exponential backoff with jitter, or None once
        MAIL_MAX_RETRIES retries are used up (the message then fails, its last reply kept)."""
        retries_done = self.attempts.get(message_id, 1) - 1
        if retries_done >= int(self.config["MAIL_MAX_RETRIES"]):
            return None
        delay = retry_delay(
            retries_done,
            base=float(self.config["MAIL_RETRY_BASE_SECONDS"]),
            cap=float(self.config["MAIL_RETRY_MAX_SECONDS"]),
        )
        return now + timedelta(seconds=delay)

    def flush(self) -> None:
        """Hand the pending results to the signal handlers and check they were written; on a
        handler's error the results stay pending (`unrecorded`) and the error is raised."""
        if self.pending:
            now = utcnow()
            try:
                recorded(
                    delivery_results.send(
                        sender=self.task,
                        results=self.pending,
                        retry_at={
                            r.key: self.retry_at(r.key, now)
                            for r in self.pending
                            if r.outcome is Outcome.TRANSIENT
                        },
                        worker=self.task.request.hostname or "",
                        task_id=self.task.request.id,
                        recipients=self.recipients,
                        subjects=self.subjects,
                    )
                )
            except BaseException:
                self.unrecorded = True
                raise
        self.unrecorded = False
        self.pending = []
        self.failing = False
        self.last_flush = time.monotonic()


def _while_held(envelopes: Iterable[Envelope], lease: Lease, report: _Report) -> Iterator[Envelope]:
    """Hand out envelopes while the batch may send: before each, its earlier outcomes written
    and its lease fresh (`Lease.keep`); a message whose row the batch no longer holds is
    skipped, never sent by this batch."""
    for envelope in envelopes:
        if not lease.keep(report.settle):
            # Not `return`: a message taken ahead of its predecessor's reply must not go out.
            raise StopSending
        if lease.holds(envelope.key):
            yield envelope
        else:
            log.warning("message %s was given to another batch: not sent by this one", envelope.key)


@shared_task(bind=True, name=SEND_BATCH)
def send_batch(self, message_ids: list[int]) -> dict[str, int]:
    """Send a batch of messages over one SMTP connection, paced by the shared rate limit.

    The batch holds its rows by a lease (`sending.leases`) renewed while it works, and sends
    nothing while an outcome is unwritten. Transient failures go to `retrying` with a time; the
    beat dispatcher queues them again then (no retry lives only in the broker). Messages the
    rate limit holds back are handed back, and so is the whole batch while the SMTP account is
    held (unreachable, or refusing the login): their attempts are not counted, and they go once
    a probe finds the account working. A batch that cannot claim because the database is away
    goes again later.
    """
    config = current_app.config
    delivery = self.request.delivery_info or {}
    redelivered = bool(delivery.get("redelivered"))
    # A campaign's batch: sliced by time, and behind transactional mail at the rate limit.
    bulk = delivery.get("routing_key") == "bulk"
    if bulk:
        message_ids, rest = split_for_rate(message_ids, config)
        put_back(rest, "bulk")
    lease = Lease(new_token(), (), lease_seconds(config))
    try:
        claimed = claim_batch(
            message_ids,
            task_id=self.request.id,
            redelivered=redelivered,
            token=lease.token,
            lease_seconds=lease.seconds,
        )
    except DATABASE_AWAY as error:
        db.session.rollback()
        countdown = min(CLAIM_RETRY_MAX_SECONDS, 2**self.request.retries)
        log.warning("could not claim (%s): again in %d s", type(error).__name__, countdown)
        raise self.retry(
            args=[message_ids], countdown=countdown, max_retries=CLAIM_RETRIES, exc=error
        ) from None
    if not claimed:
        return {"claimed": 0}
    lease.held = set(claimed)
    accounts = accounts_for_batch(claimed, config)  # the campaign's account, or its pool's
    waiting = route_waiting(accounts, config)
    if waiting is not None:
        reason = f"waiting: {waiting.describe()}"
        hand_back(claimed, until=utcnow(), reason=reason, token=lease.token)
        return {"claimed": len(claimed), "held": len(claimed)}
    try:
        batch = prepare_batch(claimed, config)
    except DATABASE_AWAY as error:  # nothing sent: the rows go again when their lease runs out
        db.session.rollback()
        log.warning("batch %s not loaded (%s): left to its lease", lease.token, error)
        return {"claimed": len(claimed), "held": len(claimed)}
    db.session.rollback()  # end the read transaction: SQLite writers must not wait on it
    report = _Report(
        self,
        attempts=batch.attempts,
        recipients=batch.recipients,
        subjects=batch.subjects,
        config=config,
    )
    for refusal in batch.refused:  # suppressed addresses, campaigns whose sender cannot be written
        report.add(refusal)
    watch = HoldWatch(batch.campaign_ids)
    # A campaign paused or cancelled meanwhile stops here, before it takes rate-limit tokens.
    # Rows their template cannot render are refused as they come.
    unheld = (
        e for e in batch.envelopes(refuse=report.add) if not watch.holds(batch.recipients[e.key][0])
    )
    if bulk:  # what is left when the slice is over goes back to the queue, unsent
        unheld = until_slice_ends(unheld, slice_seconds(config))
    held_until, reason = None, ""
    started, delivered = time.monotonic(), 0
    try:
        for result in deliver_through(
            accounts,
            unheld,
            config,
            urgent=not bulk,
            expected=len(batch.rows),
            while_waiting=lease.renew_if_due,
            while_answering=batch.render_ahead,
            admit=lambda paced: _while_held(paced, lease, report),
        ):
            report.add(result)
            delivered += 1
    except StopSending:  # an outcome could not be written, or the lease was lost
        pass
    except AccountsWaiting as waiting:
        # Back to `retrying`: the dispatcher sends them when a hold is lifted (or at midnight).
        held_until = waiting.until(utcnow())
        reason = f"waiting: {waiting.describe()}"
    except QuotaExhausted as exhausted:
        held_until = next_window(utcnow())
        reason = f"waiting for the next sending window: {exhausted}"
    except redis.RedisError as error:
        held_until = utcnow() + timedelta(seconds=LIMITER_DOWN_RETRY_SECONDS)
        reason = f"waiting: the rate limit store is unreachable ({type(error).__name__})"
    finally:  # every result written, the database waited for as long as the lease allows
        if not lease.keep(report.flush):
            log.error(
                "batch %s: %d outcomes not recorded; their rows go again once the lease runs out",
                lease.token,
                len(report.pending),
            )
    if bulk:  # the next batch of this process claims what this pace sends in a slice
        note_pace(delivered, time.monotonic() - started)
    unsent = [message_id for message_id in claimed if message_id not in report.done]
    try:
        if held_until is not None:
            hand_back(unsent, until=held_until, reason=reason, token=lease.token)
        else:  # held back by a pause or a cancel, or the batch's time slice is over
            release_unsent(unsent, token=lease.token)
    except DATABASE_AWAY as error:
        db.session.rollback()
        log.warning(
            "batch %s: %d unsent rows left to their lease (%s)", lease.token, len(unsent), error
        )
    return {"claimed": len(claimed), "held": len(unsent), **report.counts}


@shared_task(name=DISPATCH_DUE, ignore_result=True)
def dispatch_due_messages() -> int | None:
    """Beat, every DISPATCH_INTERVAL_SECONDS: queue what is due (scheduled sends, retries).
    None: a run that piled up behind the last one (see `sending.housekeeping`)."""
    if ran_recently("dispatch", current_app.config):
        return None
    moved = dispatch_due()
    stamp_run("dispatch", current_app.config)
    return moved


@shared_task(name=SWEEP_STALE, ignore_result=True)
def sweep_stale_rows() -> dict[str, int] | None:
    """Beat, every SWEEP_INTERVAL_SECONDS: re-enqueue rows stuck in `queued` or `sending`."""
    if ran_recently("sweep", current_app.config):
        return None
    report = sweep_stale()
    stamp_run("sweep", current_app.config)
    return report


@shared_task(name=PROBE_ACCOUNT, ignore_result=True)
def probe_account() -> bool | None:
    """Beat, every ACCOUNT_PROBE_SECONDS: try to log in to every held SMTP account, and lift
    the holds of those that work (None: nothing was held, or a run piled up; else whether all
    work now)."""
    if ran_recently("probe", current_app.config):
        return None
    lifted = probe_held_accounts(current_app.config)
    stamp_run("probe", current_app.config)
    return lifted


@shared_task(name=DELIVER_WEBHOOKS, ignore_result=True)
def deliver_webhooks() -> dict[str, int]:
    """Beat, every WEBHOOK_DELIVERY_INTERVAL_SECONDS: send the webhook events that are due."""
    return deliver_due(current_app.config)


@shared_task(name=REMOVE_DRAFTS, ignore_result=True)
def remove_abandoned_draft_campaigns() -> int:
    """Beat, every quarter hour: delete drafts older than DRAFT_MAX_AGE_HOURS."""
    return remove_abandoned_drafts(timedelta(hours=current_app.config["DRAFT_MAX_AGE_HOURS"]))


@shared_task(name=PRUNE_WEBHOOKS, ignore_result=True)
def prune_webhook_events() -> int:
    """Beat, every quarter hour: delete the delivered and failed webhook events, with their
    attempts, older than WEBHOOK_RETENTION_DAYS (in bounded chunks)."""
    return prune_settled_events(current_app.config)


@shared_task(name=IMPORT_CSV)
def import_csv(import_id: int) -> str:
    """Import an uploaded CSV's rows as draft messages, reporting progress on its row."""
    return run_import(import_id)


@shared_task(name=POLL_BOUNCES, ignore_result=True)
def poll_bounces() -> dict[str, int]:
    """Beat, every BOUNCE_IMAP_INTERVAL_SECONDS when BOUNCE_IMAP_HOST is set: read the bounce
    mailbox's new reports and record them."""
    result = poll_mailbox(current_app.config)
    return {"read": result.read, "recorded": result.recorded, "ignored": result.ignored}
