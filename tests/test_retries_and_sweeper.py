"""Transient failures retry from the database (no retry lives only in the broker) until the
limit; rows stuck in `queued` or `sending` are swept back onto the broker, a stale `sending`
row at most once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import DeliveryAttempt, Message, utcnow
from dashboard.sending.claims import claim_batch
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from dashboard.sending.sweeper import sweep_stale
from tests.conftest import messages_of, wait_for_final
from tests.smtp_server import ScriptedSMTPServer
from tests.test_send_end_to_end import attempts_of


@pytest.mark.sqs
def test_a_transient_failure_is_retried_up_to_the_limit_then_failed_with_its_reply(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"greylisted-{unique}@example.com"
    smtp_server.script.rcpt_replies[address] = "451 4.7.1 Greylisted, come back later"
    response = client.post("/api/v1/emails", json={"to": address, "subject": "s", "text": "t"})
    [message] = wait_for_final(app, response.json["id"])
    assert message.status == "failed"
    assert message.attempts == 4  # the first try and MAIL_MAX_RETRIES=3 retries
    assert (message.last_code, message.last_reply) == (451, "4.7.1 Greylisted, come back later")
    assert message.next_attempt_at is None
    attempts = attempts_of(app, message.id)
    assert [(a.outcome, a.smtp_code) for a in attempts] == [("transient", 451)] * 4
    # Each retry went out as its own batch task, published by the beat dispatcher.
    assert len({a.task_id for a in attempts}) == 4
    assert smtp_server.received_by(address) == []


def held_campaign(app: Flask, unique: str, count: int) -> list[int]:
    """A campaign whose rows exist but were never published (scheduled far ahead)."""
    with app.app_context():
        content = EmailContent.model_validate(
            {
                "to": [f"s{i}-{unique}@example.vn" for i in range(count)],
                "subject": "Quét",
                "text": "x",
            }
        )
        campaign = submit_email(content, source="api", send_at=utcnow() + timedelta(days=30))
        return [m.id for m in messages_of(app, campaign.id)]


@pytest.mark.sqs
def test_sweeper_requeues_lost_rows_and_resends_a_stale_sending_row_only_once(
    app: Flask, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    lost_queued, stale_sending, stale_again = held_campaign(app, unique, 3)
    long_ago = utcnow() - timedelta(hours=2)
    with app.app_context():
        # As the broker being flushed, and a worker killed mid-batch, would leave them.
        db.session.execute(
            update(Message)
            .where(Message.id == lost_queued)
            .values(status="queued", next_attempt_at=None, updated_at=long_ago)
        )
        db.session.execute(
            update(Message)
            .where(Message.id.in_([stale_sending, stale_again]))
            .values(status="sending", claimed_at=long_ago, attempts=1, next_attempt_at=None)
        )
        db.session.execute(update(Message).where(Message.id == stale_again).values(stale_resends=1))
        db.session.commit()
        report = sweep_stale()
    assert report == {"requeued": 1, "resent": 1, "failed": 1}

    with app.app_context():
        campaign_id = db.session.get(Message, lost_queued).campaign_id
    messages = {m.id: m for m in wait_for_final(app, campaign_id)}
    assert messages[lost_queued].status == "sent"
    assert messages[stale_sending].status == "sent"
    assert messages[stale_sending].stale_resends == 1
    assert [a.outcome for a in attempts_of(app, stale_sending)] == ["stale", "sent"]
    assert messages[stale_again].status == "failed"
    assert "not resent a second time" in messages[stale_again].last_reply
    for message_id in (lost_queued, stale_sending):
        assert len(smtp_server.received_by(messages[message_id].to_address)) == 1
    assert smtp_server.received_by(messages[stale_again].to_address) == []
    with app.app_context():
        outcomes = db.session.scalars(
            select(DeliveryAttempt.outcome).where(DeliveryAttempt.message_id == stale_again)
        ).all()
    assert outcomes == []


def test_sweeper_leaves_fresh_rows_alone(app: Flask, unique: str) -> None:
    [fresh] = held_campaign(app, unique, 1)
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id == fresh)
            .values(status="sending", claimed_at=utcnow(), next_attempt_at=None)
        )
        db.session.commit()
        assert sweep_stale() == {"requeued": 0, "resent": 0, "failed": 0}
        assert db.session.get(Message, fresh).status == "sending"
        db.session.execute(update(Message).where(Message.id == fresh).values(status="cancelled"))
        db.session.commit()


def test_a_redelivered_batch_takes_over_only_what_its_first_delivery_left_sending(
    app: Flask, unique: str
) -> None:
    """A worker died holding a batch: two rows it had claimed, two it had not reached. The
    broker's second delivery resends the two once, and sends the other two as first tries."""
    addresses = [f"r{i}-{unique}@example.vn" for i in range(4)]
    with app.app_context():
        content = EmailContent.model_validate({"to": addresses, "subject": "Lại", "text": "x"})
        campaign = submit_email(content, source="api", send_at=utcnow() + timedelta(hours=1))
        ids = list(
            db.session.scalars(
                select(Message.id).where(Message.campaign_id == campaign.id).order_by(Message.id)
            )
        )
        for status, group in (("sending", ids[:2]), ("queued", ids[2:])):
            db.session.execute(
                update(Message)
                .where(Message.id.in_(group))
                .values(status=status, task_id="dead-delivery", next_attempt_at=None, attempts=1)
            )
        db.session.commit()

        assert claim_batch(ids, task_id="dead-delivery", redelivered=True) == ids
        rows = db.session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id))
        assert [(m.status, m.stale_resends) for m in rows] == [
            ("sending", 1),
            ("sending", 1),
            ("sending", 0),
            ("sending", 0),
        ]
        taken_over = db.session.scalars(
            select(DeliveryAttempt.message_id).where(
                DeliveryAttempt.message_id.in_(ids),
                DeliveryAttempt.worker == "redelivered dead-delivery",
            )
        )
        assert sorted(taken_over) == ids[:2]
        # Nothing sends these rows: no worker holds them, and the sweeper must not either.
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(status="cancelled"))
        db.session.commit()
