"""On SQLite the API intake's writers of every web process, the workers' claims and outcome
writes and a campaign's confirm take turns through a lock file beside the database
(`sending.sqlite_turns`): a write waits, awake, while another process holds the turn, and goes
through the moment it is let go; on PostgreSQL there are no turns."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.campaigns.confirm import confirm_campaign
from dashboard.extensions import db
from dashboard.mail.smtp import DeliveryResult, Outcome
from dashboard.models import Campaign, Message
from dashboard.sending.claims import claim_messages
from dashboard.sending.leases import new_token
from dashboard.sending.outcomes import record_outcomes
from dashboard.sending.sqlite_turns import lock_file_of
from tests import engines
from tests.conftest import messages_of
from tests.history_rows import seed_campaign


def _post(client: FlaskClient, address: str, answers: list) -> None:
    response = client.post(
        "/api/v1/emails", json={"to": address, "subject": "Mã xác nhận", "text": "482913"}
    )
    answers.append((response.status_code, response.get_json()))


def test_the_intake_waits_its_turn_at_the_sqlite_file_and_goes_when_it_is_free(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    with app.app_context():
        lock_file = lock_file_of(db.engine)
    if engines.TEST_DATABASE == "postgresql":
        assert lock_file is None
        answers: list = []
        _post(client, f"pg-{unique}@example.vn", answers)
        assert answers[0][0] == 202, answers
        return

    assert lock_file is not None
    _post(client, f"first-{unique}@example.vn", [])  # the lock file exists once a write ran
    other_process = os.open(lock_file, os.O_RDWR)  # its own open file: a lock of its own
    fcntl.flock(other_process, fcntl.LOCK_EX)
    answers = []
    try:
        poster = threading.Thread(
            target=_post, args=(client, f"waits-{unique}@example.vn", answers), daemon=True
        )
        poster.start()
        poster.join(timeout=1.0)
        assert poster.is_alive() and answers == []  # held at the turn, not answered
    finally:
        fcntl.flock(other_process, fcntl.LOCK_UN)
        os.close(other_process)
    poster.join(timeout=30)
    assert not poster.is_alive()
    [(status, answer)] = answers
    assert status == 202, answer
    [message] = messages_of(app, answer["id"])
    assert message.to_address == f"waits-{unique}@example.vn"
    assert message.status in ("queued", "sending", "sent")


def test_a_workers_claim_and_outcomes_and_a_confirm_take_the_same_turns(
    app: Flask, unique: str
) -> None:
    """The workers' claims and outcome writes and a campaign's confirm meet the intake's
    writers at the same lock file (woken the moment it is free, not by SQLite's busy handler's
    sleeps): each waits while another process holds the turn, and then writes."""
    with app.app_context():
        lock_file = lock_file_of(db.engine)
    if engines.TEST_DATABASE == "postgresql":
        assert lock_file is None
        return
    assert lock_file is not None
    # Held campaigns (seeded so): no worker of the session sends them.
    _, (sending_id, queued_id) = seed_campaign(
        app,
        [
            {"to_address": f"sending-{unique}@example.vn", "status": "sending"},
            {"to_address": f"queued-{unique}@example.vn", "status": "queued"},
        ],
    )
    draft_campaign, draft_ids = seed_campaign(
        app, [{"to_address": f"draft-{n}-{unique}@example.vn", "status": "draft"} for n in range(3)]
    )
    answers: dict[str, object] = {}

    def in_app(name: str, work: Callable[[], object]) -> None:
        with app.app_context():
            answers[name] = work()

    def confirm() -> int:
        return confirm_campaign(db.session.get(Campaign, draft_campaign))

    writers = {
        "claim": lambda: claim_messages(
            [queued_id], task_id="turns", token=new_token(), lease_seconds=60
        ),
        "outcome": lambda: record_outcomes(
            [DeliveryResult(sending_id, Outcome.SENT, 250, "2.0.0 Ok: queued", 12)],
            {},
            worker="turns",
            task_id="turns",
        ),
        "confirm": confirm,
    }
    other_process = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.flock(other_process, fcntl.LOCK_EX)
    try:
        threads = [
            threading.Thread(target=in_app, args=(name, work), daemon=True)
            for name, work in writers.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1.0)
        assert all(thread.is_alive() for thread in threads) and answers == {}
        assert _statuses(app, [sending_id, *draft_ids]) == ["sending", "draft", "draft", "draft"]
    finally:
        fcntl.flock(other_process, fcntl.LOCK_UN)
        os.close(other_process)
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert answers == {"claim": [], "outcome": None, "confirm": 3}  # a held campaign: unclaimed
    assert _statuses(app, [sending_id, *draft_ids]) == ["sent", "queued", "queued", "queued"]


def _statuses(app: Flask, ids: list[int]) -> list[str]:
    with app.app_context():
        rows = db.session.execute(select(Message.id, Message.status).where(Message.id.in_(ids)))
        found = {message_id: status for message_id, status in rows}
        db.session.rollback()
    return [str(found[i]) for i in ids]
