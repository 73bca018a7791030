"""Group commit: the submissions that one process receives at the same time are written in one
transaction and published as one task, and each request still waits for its own commit before
it answers (nothing is acknowledged that is not stored).

There is no timer: the first request to arrive writes what is waiting and publishes it, and
those that arrive while it does wait for the next write, which one of them makes. Under no load
a group is one submission; under load it holds what arrived during one write and publish (a few,
with gunicorn's threads), so the commit, the round trips and the publish are shared. Rows go in
by Core INSERTs with RETURNING (one statement per table), with their batch's task id in hand
before the insert.

Only plain submissions take this path (sent now, no attachments, no `Idempotency-Key`);
`submission.submit_email` sends the others through the ORM as before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from flask import Flask, current_app
from sqlalchemy import insert

from dashboard.extensions import db
from dashboard.models import AuditEvent, Campaign, Message, MessageStatus
from dashboard.sending.publishing import Batch, batch_size_for, publish_batches

# Built once: building a statement and its cache key costs more than running it on SQLite.
_INSERT_CAMPAIGNS = insert(Campaign).returning(Campaign.id, sort_by_parameter_order=True)
_INSERT_MESSAGES = insert(Message).returning(Message.id, sort_by_parameter_order=True)
_INSERT_EVENTS = insert(AuditEvent)


@dataclass
class Submission:
    """One request's rows, waiting to be written: its campaign's and its messages' values, and
    its audit event's (the target is filled in once the campaign's id is known)."""

    campaign: dict[str, Any]
    messages: list[dict[str, Any]]
    event: dict[str, Any]
    campaign_id: int | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class _Group:
    pending: list[Submission] = field(default_factory=list)
    writing: bool = False
    condition: threading.Condition = field(default_factory=threading.Condition)


def _group_of(app: Flask) -> _Group:
    group = app.extensions.get("dispatcher_group_commit")
    if group is None:
        group = app.extensions.setdefault("dispatcher_group_commit", _Group())
    return group


def submit_together(submission: Submission) -> int:
    """Store `submission` (in a transaction it may share with others of this process) and
    publish its messages; return its campaign's id once it is committed, or raise what the
    database raised."""
    group = _group_of(current_app._get_current_object())
    with group.condition:
        group.pending.append(submission)
        while not submission.done:
            if group.writing:
                group.condition.wait()
                continue
            group.writing = True
            batch, group.pending = group.pending, []
            group.condition.release()
            try:
                batches = _write(batch)
                with group.condition:  # the group's requests may answer now
                    group.condition.notify_all()
                # This request publishes for them all (it never raises), still as the writer:
                # what arrives meanwhile makes the next group bigger.
                for queue, planned in batches.items():
                    publish_batches(planned, queue=queue, sent_event=False)
            finally:
                group.condition.acquire()
                group.writing = False
                group.condition.notify_all()
    if submission.error is not None:
        raise submission.error
    assert submission.campaign_id is not None
    return submission.campaign_id


def _write(submissions: Sequence[Submission]) -> dict[str, list[Batch]]:
    """Insert every submission's rows in one transaction; mark each done (with its campaign id,
    or the error for all). Returns the batches to publish, by queue."""
    try:
        messages: list[dict[str, Any]] = []
        batches: dict[str, list[Batch]] = {}
        for queue in {s.campaign["queue"] for s in submissions}:
            rows = [m for s in submissions if s.campaign["queue"] == queue for m in s.messages]
            size = batch_size_for(queue)
            for start in range(0, len(rows), size):
                task_id = str(uuid4())
                for row in rows[start : start + size]:
                    row["task_id"] = task_id
                batches.setdefault(queue, []).append(Batch(task_id, []))
        # On the writing request's own connection (no second checkout, nor its pre-ping):
        # the commit is the session's, as `submit_email`'s ORM path commits it too.
        connection = db.session.connection()
        campaign_ids = connection.scalars(
            _INSERT_CAMPAIGNS, [s.campaign for s in submissions]
        ).all()
        for submission, campaign_id in zip(submissions, campaign_ids, strict=True):
            submission.campaign_id = campaign_id
            submission.event["target"] = f"campaign {campaign_id}"
            for row in submission.messages:
                row["campaign_id"] = campaign_id
                messages.append(row)
        message_ids = connection.scalars(_INSERT_MESSAGES, messages).all()
        connection.execute(_INSERT_EVENTS, [s.event for s in submissions])
        db.session.commit()
        by_task = {b.task_id: b for planned in batches.values() for b in planned}
        for row, message_id in zip(messages, message_ids, strict=True):
            by_task[row["task_id"]].message_ids.append(message_id)
    except BaseException as error:
        db.session.rollback()
        for submission in submissions:
            submission.error, submission.campaign_id = error, None
        batches = {}
    for submission in submissions:
        submission.done = True
    return batches


def message_values(*, to_address: str, to_name: str, message_id_header: str) -> dict[str, Any]:
    """A queued message's column values, as the ORM would insert them."""
    return {
        "to_address": to_address,
        "to_name": to_name,
        "status": MessageStatus.QUEUED,
        "message_id_header": message_id_header,
    }
