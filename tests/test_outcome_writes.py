"""A chunk of a batch's results, as the worker's outcome handler writes it: each message row
ends as its result says and each result leaves one attempt, whatever the mix of outcomes in
the chunk, and rows outside the chunk are left alone."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult, Outcome
from dashboard.models import DeliveryAttempt, Message, MessageStatus, utcnow
from dashboard.signals import record_delivery_results
from tests.history_rows import seed_campaign

REFUSED = "Không gửi: địa chỉ nằm trong danh sách chặn."


def test_a_mixed_chunk_is_written_row_by_row_as_its_results_say(app: Flask, unique: str) -> None:
    rows = [
        {"to_address": f"{name}-{unique}@example.vn", "status": "sending", "attempts": 1}
        for name in ("sent", "retry", "refused", "gives-up", "twice", "outside")
    ]
    _, (sent, retry, refused, gives_up, twice, outside) = seed_campaign(app, rows)
    with app.app_context():
        before = db.session.get(Message, outside)
        assert before is not None
        outside_updated = before.updated_at
        db.session.rollback()
    retry_time = (utcnow() + timedelta(minutes=7)).replace(microsecond=0)
    results = [
        DeliveryResult(sent, Outcome.SENT, 250, "2.0.0 Ok: queued as 4F2A", 31),
        DeliveryResult(retry, Outcome.TRANSIENT, 451, "4.7.1 Thử lại sau", 12),
        DeliveryResult(refused, Outcome.PERMANENT, None, REFUSED, 0),
        DeliveryResult(gives_up, Outcome.TRANSIENT, 421, "4.3.0 busy", 9),
        DeliveryResult(twice, Outcome.TRANSIENT, None, "connection lost", 5),
        DeliveryResult(twice, Outcome.SENT, 250, "2.0.0 Ok: queued as 77", 8),
    ]
    task = app.extensions["celery"].tasks["dashboard.send_batch"]
    # `gives_up` has no retry left (None); `retry` goes again at its time.
    retry_at = {retry: retry_time, gives_up: None, twice: retry_time}
    record_delivery_results(task, results, retry_at, worker="w-outcomes", task_id="t-1")

    with app.app_context():
        found = {
            m.id: m
            for m in db.session.scalars(
                select(Message).where(
                    Message.id.in_([sent, retry, refused, gives_up, twice, outside])
                )
            )
        }
        attempts = db.session.execute(
            select(
                DeliveryAttempt.message_id,
                DeliveryAttempt.outcome,
                DeliveryAttempt.smtp_code,
                DeliveryAttempt.smtp_reply,
                DeliveryAttempt.worker,
                DeliveryAttempt.task_id,
                DeliveryAttempt.duration_ms,
            )
            .where(DeliveryAttempt.message_id.in_(list(found)))
            .order_by(DeliveryAttempt.id)
        ).all()
        finished = set(
            db.session.scalars(
                select(DeliveryAttempt.finished_at).where(
                    DeliveryAttempt.message_id.in_(list(found))
                )
            )
        )

    assert found[sent].status == MessageStatus.SENT
    assert (found[sent].last_code, found[sent].last_reply) == (250, "2.0.0 Ok: queued as 4F2A")
    assert found[sent].sent_at is not None and found[sent].sent_at == found[sent].updated_at
    assert found[retry].status == MessageStatus.RETRYING
    assert found[retry].next_attempt_at == retry_time and found[retry].sent_at is None
    assert (found[retry].last_code, found[retry].last_reply) == (451, "4.7.1 Thử lại sau")
    assert found[refused].status == MessageStatus.FAILED
    assert (found[refused].last_code, found[refused].last_reply) == (None, REFUSED)
    assert found[gives_up].status == MessageStatus.FAILED and found[gives_up].last_code == 421
    # Listed twice in the chunk: the later result is the row's.
    assert found[twice].status == MessageStatus.SENT and found[twice].last_code == 250
    assert found[outside].status == MessageStatus.SENDING
    assert found[outside].updated_at == outside_updated and found[outside].last_reply is None

    assert attempts == [
        (sent, "sent", 250, "2.0.0 Ok: queued as 4F2A", "w-outcomes", "t-1", 31),
        (retry, "transient", 451, "4.7.1 Thử lại sau", "w-outcomes", "t-1", 12),
        (refused, "permanent", None, REFUSED, "w-outcomes", "t-1", 0),
        (gives_up, "transient", 421, "4.3.0 busy", "w-outcomes", "t-1", 9),
        (twice, "transient", None, "connection lost", "w-outcomes", "t-1", 5),
        (twice, "sent", 250, "2.0.0 Ok: queued as 77", "w-outcomes", "t-1", 8),
    ]
    assert finished == {found[sent].updated_at}
