"""On SQLite the API intake's writers of every web process take turns through a lock file
beside the database (`sending.sqlite_turns`): a write waits, awake, while another process holds
the turn, and goes through the moment it is let go; on PostgreSQL there are no turns."""

from __future__ import annotations

import fcntl
import os
import threading

from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.sending.sqlite_turns import lock_file_of
from tests import engines
from tests.conftest import messages_of


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
