"""Recording outcomes: a chunk of a batch's per-recipient results written to the rows.

Each result sets its message's status (`sent`, `retrying` with the time it goes again, or
`failed`) and, for a merge message, the subject it was rendered with, and adds a
`DeliveryAttempt`; sent results move the hourly sent counts
(`sent_counts`). All of it is one transaction of a few statements (`outcome_statements`); the
failure guard then looks at the campaigns of new refusals, and the chunk is logged in one
record, a line per attempt.

The Celery signal handler (`dashboard.signals`) calls `record_outcomes` inside the app context;
an error rolls back and goes up to it, and the task sees it and writes the chunk again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dashboard.database import DATABASE_AWAY, transaction
from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult, Outcome
from dashboard.models import MessageStatus, utcnow
from dashboard.sending.failure_guard import is_failure, pause_failing_campaigns
from dashboard.sending.outcome_statements import insert_attempts, update_messages
from dashboard.sending.sent_counts import move_sends
from dashboard.sending.sqlite_turns import write_turn
from dashboard.webhooks.outbox import enqueue_outcomes

log = logging.getLogger(__name__)

#: The longest SMTP reply kept, on the row and on the attempt.
REPLY_CHARS = 2000


def record_outcomes(
    results: Sequence[DeliveryResult],
    retry_at: Mapping[int, datetime | None],
    *,
    worker: str,
    task_id: str | None,
    recipients: Mapping[int, tuple[int, str]] | None = None,
    subjects: Mapping[int, str] | None = None,
) -> None:
    """Write each result to its message row and log it as an attempt, in one transaction.

    `retry_at` gives, per message, when a transient failure is tried again (the beat dispatcher
    queues it then); None means its retries are used up, so a transient failure is final.
    `recipients` names, per message, its campaign and its recipient's domain for the log line
    (the batch has them in memory already); `subjects`, per message rendered with a subject
    other than its campaign's, that subject (so History lists what the recipient got).
    """
    now = utcnow()
    # A message with two results in one chunk ends as the later one says (as row by row did).
    final = {result.key: message_update(result, retry_at, now) for result in results}
    sent = [result.key for result in results if result.outcome is Outcome.SENT]
    with write_turn(db.engine), transaction():
        _write_outcomes(
            results, sent, final, subjects or {}, worker=worker, task_id=task_id, now=now
        )
        enqueue_outcomes(db.session, final.values())  # webhooks' events commit with the outcomes
    try:
        _check_failing_campaigns(results)
    except DATABASE_AWAY as error:  # recorded already: writing them again would log them twice
        log.warning("failure guard skipped (%s): it looks at the next refusals", error)
    log_attempts(results, worker, recipients or {})


def message_update(
    result: DeliveryResult, retry_at: Mapping[int, datetime | None], now: datetime
) -> dict[str, Any]:
    """The columns a result sets on its message row (`key` is the row's id): sent, retrying at
    its retry time, or failed when it was refused or has no retry left."""
    row: dict[str, Any] = {
        "key": result.key,
        "last_code": result.code,
        "last_reply": result.reply[:REPLY_CHARS],
        "updated_at": now,
    }
    if result.outcome is Outcome.SENT:
        row.update(status=MessageStatus.SENT, sent_at=now)
    elif result.outcome is Outcome.TRANSIENT and retry_at.get(result.key) is not None:
        row.update(status=MessageStatus.RETRYING, next_attempt_at=retry_at[result.key])
    else:
        row.update(status=MessageStatus.FAILED)
    return row


def _write_outcomes(
    results: Sequence[DeliveryResult],
    sent: list[int],
    final: Mapping[int, Mapping[str, Any]],
    subjects: Mapping[int, str],
    *,
    worker: str,
    task_id: str | None,
    now: datetime,
) -> None:
    """The transaction's statements, in this order: the attempts, the hourly counts, the rows."""
    insert_attempts(
        [(r.key, r.outcome.value, r.code, r.reply[:REPLY_CHARS], r.duration_ms) for r in results],
        worker=worker[:200],
        task_id=task_id,
        now=now,
    )
    # The hourly sent counts need each message's previous sent_at: read after a first
    # write (SQLite takes its write lock there; PostgreSQL locks the rows read) and before
    # the update, so no other writer can change it in between.
    move_sends(sent, now)
    by_status: dict[str, list[tuple[int, int | None, str, str | None, datetime | None]]] = {}
    for key in sorted(final):  # id order: concurrent writers lock rows alike
        row = final[key]
        by_status.setdefault(row["status"], []).append(
            (
                key,
                row["last_code"],
                row["last_reply"],
                subjects.get(key),
                row.get("next_attempt_at"),
            )
        )
    for status, rows in by_status.items():
        update_messages(status, rows, now)


def _check_failing_campaigns(results: Sequence[DeliveryResult]) -> None:
    """After the commit: pause the campaigns that new refusals push past the threshold."""
    failing = [r.key for r in results if is_failure(r.outcome.value, r.code)]
    if not failing:  # only a new failure can push a campaign past the threshold
        return
    try:
        pause_failing_campaigns(failing)
    except BaseException:
        db.session.rollback()  # nothing the check read or began stays open
        raise


def log_attempts(
    results: Sequence[DeliveryResult], worker: str, recipients: Mapping[int, tuple[int, str]]
) -> None:
    """One INFO record per chunk: a summary line, then one logfmt line per attempt, for log
    search across hosts; the recipient's domain only, never the address, the body or a
    credential. One record, not one per attempt: making and writing a record cost a bulk
    worker more than writing the attempt to the database."""
    if not results or not log.isEnabledFor(logging.INFO):
        return
    worker = worker or "-"
    counts: dict[str, int] = {}
    lines = []
    for result in results:
        outcome = result.outcome.value
        counts[outcome] = counts.get(outcome, 0) + 1
        campaign_id, domain = recipients.get(result.key, (None, ""))
        code = result.code if result.code is not None else "-"
        lines.append(
            f"delivery campaign={campaign_id} message={result.key} domain={domain or '-'} "
            f"outcome={outcome} code={code} duration_ms={result.duration_ms} worker={worker}"
        )
    summary = " ".join(f"{outcome}={count}" for outcome, count in sorted(counts.items()))
    log.info("deliveries worker=%s %s\n%s", worker, summary, "\n".join(lines))
