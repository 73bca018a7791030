"""Three worker processes with their own node names share one campaign: each message is sent
exactly once, and every one of the three did part of the work (the DeliveryAttempt rows say
which worker sent what). Runs on whichever database and broker the session uses."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import DeliveryAttempt, Message
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests.conftest import running_workers, wait_for_final
from tests.smtp_server import ScriptedSMTPServer

RECIPIENTS = 90
BATCH_SIZE = 3


def attempts_by_worker(app: Flask, campaign_id: int) -> Counter[str]:
    """Node name (without the host part) -> how many attempts that worker made."""
    with app.app_context():
        workers = db.session.scalars(
            select(DeliveryAttempt.worker)
            .join(Message, Message.id == DeliveryAttempt.message_id)
            .where(Message.campaign_id == campaign_id)
        ).all()
    return Counter(worker.partition("@")[0] for worker in workers)


def test_three_workers_share_a_campaign_and_send_each_message_once(
    app: Flask,
    smtp_server: ScriptedSMTPServer,
    stack_settings: dict[str, str],
    tmp_path: Path,
    unique: str,
) -> None:
    # A queue only these three consume, so the session's own worker takes no part.
    queue = f"spread-{os.getpid()}"
    names = [f"spread{number}-{os.getpid()}" for number in (1, 2, 3)]
    app.config["MAIL_BATCH_SIZE"] = BATCH_SIZE
    smtp_server.script.data_delay = 0.05  # each batch takes a moment, so all three get some
    addresses = [f"w{i}-{unique}@example.vn" for i in range(RECIPIENTS)]

    with running_workers(stack_settings, tmp_path, names, queues=[queue], concurrency=1):
        with app.app_context():
            content = EmailContent.model_validate(
                {"to": addresses, "subject": "Ba người gửi", "text": "Xin chào các bạn"}
            )
            campaign_id = submit_email(content, source="api", queue=queue).id
        messages = wait_for_final(app, campaign_id, timeout=120)

    assert [(m.status, m.attempts) for m in messages] == [("sent", 1)] * RECIPIENTS
    # Only this test's addresses: the session's sweeper may meanwhile send a row another test
    # seeded as `queued` (tests/history_rows.py) to the same SMTP server.
    received = Counter(a for r in smtp_server.received for a in r.rcpt_tos if unique in a)
    assert received == Counter(addresses)  # every address once, no other address of ours
    by_worker = attempts_by_worker(app, campaign_id)
    assert set(by_worker) == set(names), by_worker
    assert sum(by_worker.values()) == RECIPIENTS
