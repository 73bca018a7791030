"""Pause, resume, cancel and retry a campaign while a real worker is sending it."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import update

from dashboard.campaigns.control import cancel_campaign, resume_campaign
from dashboard.extensions import db
from dashboard.models import Campaign, Message, utcnow
from dashboard.sending.holds import pause_campaign
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests.conftest import messages_of, wait_for_final, wait_until
from tests.smtp_server import ScriptedSMTPServer

RECIPIENTS = 30


def submit_slow_campaign(app: Flask, smtp_server: ScriptedSMTPServer, unique: str) -> int:
    """A campaign of small batches against a slow server, so there is time to act mid-way."""
    app.config["MAIL_BATCH_SIZE"] = 2
    smtp_server.script.data_delay = 0.1
    addresses = [f"r{i}-{unique}@example.vn" for i in range(RECIPIENTS)]
    with app.app_context():
        content = EmailContent.model_validate(
            {"to": addresses, "subject": "Tạm dừng", "text": "Xin chào"}
        )
        return submit_email(content, source="api").id


def sent_count(app: Flask, campaign_id: int) -> int:
    return sum(m.status == "sent" for m in messages_of(app, campaign_id))


def test_pause_then_resume_sends_each_remaining_message_once(
    app: Flask, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    campaign_id = submit_slow_campaign(app, smtp_server, unique)
    wait_until(lambda: sent_count(app, campaign_id) >= 2, what="the first messages to be sent")
    with app.app_context():
        assert pause_campaign(db.session.get(Campaign, campaign_id))
        assert db.session.get(Campaign, campaign_id).progress().status == "paused"
    time.sleep(1.5)  # batches in flight finish; nothing new may start
    held = sent_count(app, campaign_id)
    time.sleep(1.0)
    assert sent_count(app, campaign_id) == held < RECIPIENTS
    assert {m.status for m in messages_of(app, campaign_id)} <= {"sent", "queued"}

    with app.app_context():
        assert resume_campaign(db.session.get(Campaign, campaign_id)) == RECIPIENTS - held
    messages = wait_for_final(app, campaign_id)
    assert [m.status for m in messages] == ["sent"] * RECIPIENTS
    for message in messages:
        assert len(smtp_server.received_by(message.to_address)) == 1, message.to_address


def test_resume_leaves_a_retrying_message_to_its_backoff(
    app: Flask, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    later = utcnow() + timedelta(hours=1)
    addresses = [f"{name}-{unique}@example.vn" for name in ("an", "binh", "chi")]
    with app.app_context():
        content = EmailContent.model_validate({"to": addresses, "subject": "Thử lại", "text": "x"})
        campaign = submit_email(content, source="api", send_at=later)
        campaign_id = campaign.id
        assert pause_campaign(campaign)
        # Two messages wait in the queue; the server told the third to try again later.
        db.session.execute(
            update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(status="queued", next_attempt_at=None)
        )
        db.session.execute(
            update(Message)
            .where(Message.campaign_id == campaign_id, Message.to_address == addresses[2])
            .values(status="retrying", attempts=1, next_attempt_at=later)
        )
        db.session.commit()
        assert resume_campaign(db.session.get(Campaign, campaign_id)) == 2

    def two_sent() -> list[Message] | None:
        messages = messages_of(app, campaign_id)
        return messages if sum(m.status == "sent" for m in messages) == 2 else None

    wait_until(two_sent, what="the two queued messages to be sent")
    time.sleep(1.0)  # a wrongly published third message would be claimed within this
    assert [m.status for m in messages_of(app, campaign_id)] == ["sent", "sent", "retrying"]
    assert smtp_server.received_by(addresses[2]) == []
    with app.app_context():
        cancel_campaign(db.session.get(Campaign, campaign_id))  # not sent by a later test's beat


def test_cancel_leaves_no_message_sent_after_it(
    app: Flask, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    campaign_id = submit_slow_campaign(app, smtp_server, unique)
    wait_until(lambda: sent_count(app, campaign_id) >= 2, what="the first messages to be sent")
    with app.app_context():
        cancelled = cancel_campaign(db.session.get(Campaign, campaign_id))
    assert cancelled > 0
    messages = wait_for_final(app, campaign_id)
    statuses = [m.status for m in messages]
    # Batches in flight stop too: their claimed, unsent messages are cancelled by the worker.
    assert statuses.count("cancelled") >= cancelled
    assert statuses.count("sent") == RECIPIENTS - statuses.count("cancelled")
    time.sleep(1.0)
    sent_addresses = {r.rcpt_tos[0] for r in smtp_server.received}
    assert sent_addresses == {m.to_address for m in messages if m.status == "sent"}
