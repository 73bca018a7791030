"""Celery tasks: thin wrappers that load ids, call the mail code and report outcomes by signal."""

from __future__ import annotations

import time
from datetime import timedelta

from celery import shared_task
from flask import current_app

from .batch_content import prepare_batch
from .campaign_control import HoldWatch, release_unsent
from .campaign_import import run_import
from .delivery import claim_messages, retry_delay, smtp_settings
from .mail.smtp import DeliveryResult, Outcome, deliver_batch
from .models import utcnow
from .signals import delivery_results

FLUSH_EVERY_RESULTS = 50
FLUSH_EVERY_SECONDS = 1.0


class _Report:
    """Collects per-recipient results and hands them to the signal handlers in bulk."""

    def __init__(self, task, *, retry_at) -> None:
        self.task = task
        self.retry_at = retry_at  # None once retries are used up: transient then means failed
        self.pending: list[DeliveryResult] = []
        self.counts = {outcome.value: 0 for outcome in Outcome}
        self.transient_ids: list[int] = []
        self.last_flush = time.monotonic()

    def add(self, result: DeliveryResult) -> None:
        self.pending.append(result)
        self.counts[result.outcome.value] += 1
        if result.outcome is Outcome.TRANSIENT:
            self.transient_ids.append(result.key)
        if (
            len(self.pending) >= FLUSH_EVERY_RESULTS
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            delivery_results.send(
                sender=self.task,
                results=self.pending,
                retry_at=self.retry_at,
                worker=self.task.request.hostname or "",
                task_id=self.task.request.id,
            )
        self.pending = []
        self.last_flush = time.monotonic()


@shared_task(bind=True, name="dashboard.send_batch")
def send_batch(self, message_ids: list[int]) -> dict[str, int]:
    """Send a batch of messages over one SMTP connection; retry only the transient failures."""
    config = current_app.config
    claimed = claim_messages(message_ids, task_id=self.request.id)
    if not claimed:
        return {"claimed": 0}
    max_retries = config["MAIL_MAX_RETRIES"]
    retries_done = self.request.retries or 0
    countdown = None
    if retries_done < max_retries:
        countdown = retry_delay(
            retries_done,
            base=config["MAIL_RETRY_BASE_SECONDS"],
            cap=config["MAIL_RETRY_MAX_SECONDS"],
        )
    retry_at = utcnow() + timedelta(seconds=countdown) if countdown is not None else None
    report = _Report(self, retry_at=retry_at)
    batch = prepare_batch(claimed, config)
    for refusal in batch.refused:
        report.add(refusal)
    watch = HoldWatch(batch.campaign_ids)
    campaign_of = batch.campaign_of
    attempted: set[int] = {refusal.key for refusal in batch.refused}
    for result in deliver_batch(
        batch.envelopes,
        smtp_settings(config),
        skip=lambda envelope: watch.holds(campaign_of[envelope.key]),
    ):
        attempted.add(result.key)
        report.add(result)
    report.flush()
    release_unsent([message_id for message_id in claimed if message_id not in attempted])
    if report.transient_ids and countdown is not None:
        raise self.retry(args=[report.transient_ids], countdown=countdown, max_retries=max_retries)
    return {"claimed": len(claimed), **report.counts}


@shared_task(name="dashboard.import_csv")
def import_csv(import_id: int) -> str:
    """Import an uploaded CSV's rows as draft messages, reporting progress on its row."""
    return run_import(import_id)
