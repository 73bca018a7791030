"""Beat's jobs cannot be starved: the dispatcher and the sweeper run on a queue and a worker of
their own (`make run`'s housekeeping lane), whatever waits on the sending queues, and the live
panel says when each last ran, and that it is late once its worker is gone."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message, utcnow
from dashboard.ops.local_stack import DEFAULT_LANES
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests import engines
from tests.fault_stack import FaultStack, signed_in
from tests.smtp_server import ScriptedSMTPServer

WAIT_SECONDS = 60


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[FaultStack]:
    with contextlib.ExitStack() as resources:
        broker_url = database_url = None
        if engines.TEST_BROKER == "rabbitmq":
            name = f"{engines.session_name('dispatcher-housekeeping')}-{os.getpid()}"
            broker_url = resources.enter_context(engines.rabbitmq_vhost(name))
        if engines.TEST_DATABASE == "postgresql":
            name = f"{engines.session_name('dispatcher_housekeeping')}_{os.getpid()}"
            database_url = resources.enter_context(engines.postgres_database(name))
        smtp = ScriptedSMTPServer()
        smtp.start()
        resources.callback(smtp.stop)
        fault_stack = FaultStack(tmp_path, smtp, {}, broker_url, database_url)
        resources.callback(fault_stack.close)  # processes first, then the vhost
        fault_stack.start_redis()
        fault_stack.migrate()
        yield fault_stack


def _panel_line(html: str, job: str) -> str:
    found = re.search(rf'<li data-job="{job}"[^>]*>(.*?)</li>', html, re.S)
    assert found, html
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_beat_jobs_run_with_the_sending_queues_full_and_the_panel_says_when(stack):
    [lane] = [lane for lane in DEFAULT_LANES if lane.name == "housekeeping"]
    assert lane.queues == ("housekeeping",)
    # Only the housekeeping worker: 300 emails wait on `transactional`, unserved.
    housekeeping = stack.start_worker("housekeeping", lane.concurrency, queues=lane.queues)
    stack.start_beat()
    app = stack.app()
    app.config["REDIS_URL"] = stack.redis_url  # where the jobs stamp their runs
    client = signed_in(app)
    with app.app_context():
        for number in range(300):
            content = EmailContent.model_validate(
                {"to": f"cho{number}@example.vn", "subject": "Đang chờ", "text": "Xin chào"}
            )
            submit_email(content, source="api")
        due = EmailContent.model_validate(
            {"to": "hen-gio@example.vn", "subject": "Hẹn giờ", "text": "Xin chào"}
        )
        scheduled = submit_email(due, source="api", send_at=utcnow() + timedelta(seconds=2)).id

    def status() -> str:
        with app.app_context():
            found = db.session.scalar(
                select(Message.status).where(Message.campaign_id == scheduled)
            )
            db.session.rollback()
        return found

    deadline = time.monotonic() + WAIT_SECONDS
    while status() != "queued":  # the dispatcher moved it, though nothing sends
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(0.2)
    html = client.get("/stats/system").get_data(as_text=True)
    for job, label in (("dispatch", "dispatcher"), ("sweep", "sweeper")):
        line = _panel_line(html, job)
        assert re.search(rf"{label}: last ran \d+ s ago \(every [\d.]+ s\)$", line), line

    stack.terminate(housekeeping)
    deadline = time.monotonic() + WAIT_SECONDS
    while "late" not in _panel_line(client.get("/stats/system").get_data(as_text=True), "dispatch"):
        assert time.monotonic() < deadline, "the panel never said the dispatcher was late"
        time.sleep(1)
    line = _panel_line(client.get("/stats/system").get_data(as_text=True), "dispatch")
    assert line.endswith("late is the housekeeping worker or beat running?"), line
