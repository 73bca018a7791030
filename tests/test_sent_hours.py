"""What the statistics read beside the rows stays equal to the rows: the outcome handler moves a
message sent again (a duplicate) out of its old hour, counts a message listed twice in one batch
once, leaves retries and failures out, and lists exactly the messages with two sent attempts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult, Outcome
from dashboard.models import (
    DeliveryAttempt,
    DuplicateSend,
    Message,
    MessageStatus,
    SentHour,
    utcnow,
)
from dashboard.sending.sent_counts import recount_from_rows
from dashboard.sending.time_buckets import floor_to
from dashboard.signals import record_delivery_results
from tests.history_rows import seed_campaign

# A quiet stretch of the past that no other test writes to.
AUGUST = datetime(2020, 8, 3)


def kept_hours(app: Flask) -> dict[datetime, int]:
    with app.app_context():
        rows = db.session.execute(select(SentHour.hour, SentHour.sent))
        return {hour: sent for hour, sent in rows if sent}


def counted_hours(app: Flask) -> dict[datetime, int]:
    """Every message's sent_at, counted in its hour, straight from the rows."""
    with app.app_context():
        sent_at = db.session.scalars(select(Message.sent_at).where(Message.sent_at.is_not(None)))
        return dict(Counter(floor_to(moment, "hour") for moment in sent_at))


def listed_duplicates(app: Flask) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(DuplicateSend.message_id)))


def sent_twice(app: Flask) -> set[int]:
    """The messages with more than one sent attempt, straight from the attempts."""
    with app.app_context():
        return set(
            db.session.scalars(
                select(DeliveryAttempt.message_id)
                .where(DeliveryAttempt.outcome == "sent")
                .group_by(DeliveryAttempt.message_id)
                .having(func.count() > 1)
            )
        )


def record(app: Flask, results: list[DeliveryResult], retry_at: dict[int, datetime]) -> None:
    """What a worker's task does with a chunk of results: the delivery_results signal's handler,
    with the task as its sender."""
    task = app.extensions["celery"].tasks["dashboard.send_batch"]
    record_delivery_results(task, results, retry_at, worker="w-test", task_id=None)


def test_duplicates_and_retries_keep_each_message_in_one_hour(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    ten = AUGUST + timedelta(hours=10)
    _, (earlier, retrying, batch_twice, gives_up) = seed_campaign(
        app,
        [
            {
                "to_address": f"a-{unique}@example.vn",
                "status": "sent",
                "attempts": 1,
                "sent_attempts": 1,
                "sent_at": ten + timedelta(minutes=5),
                "updated_at": ten + timedelta(minutes=5),
            },
            {"to_address": f"b-{unique}@example.vn", "status": "sending", "attempts": 1},
            {"to_address": f"c-{unique}@example.vn", "status": "sending", "attempts": 1},
            {"to_address": f"d-{unique}@example.vn", "status": "sending", "attempts": 1},
        ],
        created_at=ten,
    )
    august = {"since": "2020-08-03", "until": "2020-08-03", "unit": "hour"}
    before = client.get("/api/v1/stats", query_string=august).json
    assert before["series"][10]["sent"] == 1 and before["totals"]["sent"] == 1

    def result(key: int, outcome: Outcome, code: int) -> DeliveryResult:
        return DeliveryResult(key, outcome, code, f"{code} reply", 40)

    # The first chunk: one message waits for a retry, another is listed twice (a redelivered
    # task's results), the third fails for good.
    record(
        app,
        [
            result(retrying, Outcome.TRANSIENT, 451),
            result(batch_twice, Outcome.SENT, 250),
            result(batch_twice, Outcome.SENT, 250),
            result(gives_up, Outcome.PERMANENT, 550),
        ],
        {retrying: utcnow() + timedelta(minutes=5)},
    )
    # The second chunk: the retry goes through, and the message sent back in August is sent
    # again (a duplicate), so it now counts in this hour and no longer in August's.
    record(
        app,
        [result(retrying, Outcome.SENT, 250), result(earlier, Outcome.SENT, 250)],
        {},
    )

    with app.app_context():
        statuses = dict(
            db.session.execute(
                select(Message.id, Message.status).where(
                    Message.id.in_([earlier, retrying, batch_twice, gives_up])
                )
            ).all()
        )
    assert statuses == {
        earlier: MessageStatus.SENT,
        retrying: MessageStatus.SENT,
        batch_twice: MessageStatus.SENT,
        gives_up: MessageStatus.FAILED,
    }
    assert kept_hours(app) == counted_hours(app)
    assert ten not in kept_hours(app)
    after = client.get("/api/v1/stats", query_string=august).json
    assert after["series"][10]["sent"] == 0 and after["totals"]["sent"] == 0
    # Sent before and sent again, or twice in one chunk: duplicates; a retry that went through
    # once is not.
    assert {earlier, batch_twice} <= listed_duplicates(app)
    assert not {retrying, gives_up} & listed_duplicates(app)
    assert listed_duplicates(app) == sent_twice(app)
    with app.app_context():
        hour = floor_to(db.session.get(Message, batch_twice).updated_at, "hour")
    now_range = {"since": f"{hour:%Y-%m-%dT%H:%M}", "unit": "hour"}
    assert client.get("/api/v1/stats", query_string=now_range).json["totals"]["duplicates"] >= 2

    # Counting every hour again from the rows (what the migration does) finds the same.
    with app.app_context():
        recount_from_rows()
        db.session.commit()
    assert kept_hours(app) == counted_hours(app)
    assert listed_duplicates(app) == sent_twice(app)
