"""Amazon SQS as the broker, against moto's SQS-compatible server on loopback: the faults that
apply to it, each on a dispatcher of its own (its own moto server on a free port, Redis for
results and the rate limit, SQLite or PostgreSQL, workers, beat and an SMTP server), and the
settings an `sqs://` broker takes. Each fault test prints a `FAULT |` line.

`make test` runs these with the SQS subset of the other files (`TEST_BROKER=sqs pytest -m sqs`);
on the other brokers the tests marked `sqs_broker` are deselected (tests/conftest.py) and only
the settings tests below run (they start nothing)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from dashboard import create_app
from dashboard.config import celery_settings, sqs_celery_settings
from dashboard.extensions import db
from dashboard.models import DeliveryAttempt, Message, MessageStatus
from dashboard.sending.batch_bounds import (
    VisibilityTimeoutTooShort,
    check_visibility_timeout,
    longest_batch_seconds,
)
from dashboard.sending.broker_depths import queue_depths
from dashboard.sending.queues import QUEUES
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests import engines
from tests.conftest import wait_for_final
from tests.fault_stack import FaultStack, status_counts, tally, wait_all_final, wait_for
from tests.smtp_server import ScriptedSMTPServer, free_port
from tests.test_csv_campaign_send import people, start


@pytest.fixture
def sqs_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[FaultStack, MotoControl]]]:
    """Make a dispatcher whose broker is a moto server of its own; yields (stack, moto), where
    `moto.stop()` / `moto.start()` break and restore the broker. The test's own app publishes
    with the fake credentials too."""
    for name, value in engines.FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    made: list[FaultStack] = []
    with contextlib.ExitStack() as resources:

        def make(**overrides: str) -> tuple[FaultStack, MotoControl]:
            moto = MotoControl(tmp_path)
            resources.callback(moto.stop)
            moto.start()
            database_url = None
            if engines.TEST_DATABASE == "postgresql":
                name = f"{engines.session_name('dispatcher_sqs')}_{len(made)}"
                database_url = resources.enter_context(engines.postgres_database(name))
            smtp = ScriptedSMTPServer()
            smtp.start()
            settings = {**engines.sqs_settings(moto.url, "fault-"), **overrides}
            stack = FaultStack(tmp_path, smtp, settings, "sqs://", database_url)
            made.append(stack)
            stack.start_redis()
            stack.migrate()
            return stack, moto

        yield make
        for stack in made:  # processes first, then the servers they talk to
            stack.close()
            with contextlib.suppress(Exception):
                stack.smtp.stop()


class MotoControl:
    """One moto server on a fixed free port that a test can stop (its queues are gone) and
    start again (empty)."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_path = tmp_path
        self.running: contextlib.ExitStack | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.running = contextlib.ExitStack()
        log_path = self.tmp_path / f"moto-{self.port}-{self.starts}.log"
        self.running.enter_context(engines.moto_server("127.0.0.1", self.port, log_path))

    def stop(self) -> None:
        if self.running is not None:
            self.running.close()
            self.running = None


def submit(app: Flask, count: int, tag: str) -> int:
    addresses = [f"{tag}{i:05}@example.vn" for i in range(count)]
    with app.app_context():
        content = EmailContent.model_validate(
            {"to": addresses, "subject": f"Kiểm thử SQS {tag}", "text": "Xin chào"}
        )
        return submit_email(content, source="api").id


def attempts_by(app: Flask, *conditions) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(DeliveryAttempt.id)).where(*conditions))
        db.session.rollback()
        return int(count or 0)


def queued_rows(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count(Message.id)).where(Message.status == MessageStatus.QUEUED)
        )
        db.session.rollback()
        return int(count or 0)


@pytest.mark.sqs
@pytest.mark.fault
@pytest.mark.sqs_broker
def test_sqs_kill_9_of_a_worker_mid_batch_then_a_new_worker(
    sqs_stack: Callable[..., tuple[FaultStack, MotoControl]],
) -> None:
    """The dead worker's batches (the one it was sending and those it had fetched) stay
    invisible in SQS until their visibility timeout (10 s here) runs out, then a new worker
    receives them. The sweeper does not requeue `queued` rows within the test (600 s), so the
    unclaimed rows arrive by SQS's redelivery alone; the rows the dead worker had claimed come
    back by the sweeper's `sending` timeout, each sent at most once more (the claim)."""
    stack, _ = sqs_stack(STALE_QUEUED_SECONDS="600", LEASE_SECONDS="8")
    stack.smtp.script.data_delay = 0.005
    app = stack.app()
    worker = stack.start_worker()
    stack.start_beat()
    total = 600
    submit(app, total, "sqskill")
    wait_for(stack, app, lambda c: c["sent"] >= 100, 90, "100 messages sent")
    stack.kill(worker)
    in_flight = status_counts(app)["sending"]
    stack.start_worker()

    counts = wait_all_final(stack, app, total, timeout=150)
    swept = attempts_by(app, DeliveryAttempt.worker == "sweeper")
    report = tally(
        "kill -9 of the worker mid-batch, then a new worker (SQS)",
        stack,
        app,
        in_flight=in_flight,
        detail=f"claimed rows resent by the sweeper: {swept}",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates <= in_flight


@pytest.mark.sqs
@pytest.mark.fault
@pytest.mark.sqs_broker
def test_sqs_server_restarted_empty_mid_campaign(
    sqs_stack: Callable[..., tuple[FaultStack, MotoControl]],
) -> None:
    """moto keeps nothing across a restart: every queue and every waiting batch is gone, as if
    the broker were lost. The rows are the truth: the workers declare the queues again when
    they reconnect, and the sweeper queues the rows again; none lost, none sent twice beyond
    what was in flight."""
    stack, moto = sqs_stack(STALE_QUEUED_SECONDS="5", LEASE_SECONDS="8")
    stack.smtp.script.data_delay = 0.005
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 600
    submit(app, total, "sqsrestart")
    wait_for(stack, app, lambda c: c["sent"] >= 100, 90, "100 messages sent")
    in_flight = status_counts(app)["sending"]
    moto.stop()
    time.sleep(3)
    moto.start()

    counts = wait_all_final(stack, app, total, timeout=180)
    report = tally(
        "SQS server (moto) restarted empty mid-campaign",
        stack,
        app,
        in_flight=in_flight,
        detail="queues re-declared by the workers, rows re-queued by the sweeper",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates <= in_flight


@pytest.mark.sqs
@pytest.mark.fault
@pytest.mark.sqs_broker
def test_sqs_unreachable_at_submit_keeps_the_rows_queued_until_the_sweeper_republishes(
    sqs_stack: Callable[..., tuple[FaultStack, MotoControl]],
) -> None:
    """A submission whose publish fails is still stored (committed before the publish): its
    rows stay `queued`, and once SQS answers again the sweeper publishes them; each is sent
    once."""
    stack, moto = sqs_stack(STALE_QUEUED_SECONDS="5")
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    moto.stop()
    total = 120
    submit(app, total, "sqsdown")
    assert queued_rows(app) == total  # stored, none published, none lost
    moto.start()

    counts = wait_all_final(stack, app, total, timeout=120)
    report = tally(
        "SQS unreachable while a campaign is submitted, then back",
        stack,
        app,
        in_flight=0,
        detail="rows published again by the sweeper",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates == 0


# --- Settings (no server needed) ----------------------------------------------------------------
BASE = {
    "MAIL_TIMEOUT": 30.0,
    "MAIL_BATCH_SIZE": 50,
    "BULK_SLICE_SECONDS": 2.0,
    "RATE_LIMIT_PER_SECOND": 0.0,
}


def sqs_config(**environ: str) -> dict:
    return {**BASE, "CELERY": celery_settings("sqs://", "redis://127.0.0.1:6379/8", environ)}


def test_sqs_settings_become_kombus_transport_options_and_turn_off_broadcast() -> None:
    celery = celery_settings(
        "sqs://",
        "redis://127.0.0.1:6379/8",
        {
            "SQS_REGION": "eu-west-1",
            "SQS_QUEUE_NAME_PREFIX": "prod-mail-",
            "CELERY_VISIBILITY_TIMEOUT": "600",
            "SQS_WAIT_TIME_SECONDS": "20",
            "SQS_POLLING_INTERVAL": "0",
            "SQS_PREDEFINED_QUEUES": "transactional=https://q.example/1/a, bulk=https://q.example/1/b",
        },
    )
    assert celery["broker_url"] == "sqs://"
    assert celery["broker_transport_options"] == {
        "region": "eu-west-1",
        "queue_name_prefix": "prod-mail-",
        "visibility_timeout": 600,
        "wait_time_seconds": 20,
        "polling_interval": 0.0,
        "predefined_queues": {
            "prod-mail-transactional": {"url": "https://q.example/1/a"},
            "prod-mail-bulk": {"url": "https://q.example/1/b"},
        },
    }
    assert celery["worker_enable_remote_control"] is False
    assert celery["worker_send_task_events"] is False
    assert celery["task_send_sent_event"] is False


def test_an_endpoint_url_goes_into_the_broker_url_where_kombu_reads_it() -> None:
    settings = sqs_celery_settings("sqs://", {"SQS_ENDPOINT_URL": "http://127.0.0.1:5003"})
    assert settings["broker_url"] == settings["broker_write_url"] == "sqs://127.0.0.1:5003"
    assert settings["broker_transport_options"]["is_secure"] is False
    # Redis and RabbitMQ are untouched by the SQS settings.
    assert "worker_enable_remote_control" not in celery_settings("amqp://h//", "redis://h/0", {})


def test_a_visibility_timeout_shorter_than_a_batch_is_refused_or_warned_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="dashboard.sending.batch_bounds")
    assert longest_batch_seconds(BASE) == 3 * 30 + 50 * 1 + 4 * 30  # set-up, 50 messages, one slow
    assert check_visibility_timeout(sqs_config(CELERY_VISIBILITY_TIMEOUT="900")) is None
    warning = check_visibility_timeout(sqs_config(CELERY_VISIBILITY_TIMEOUT="60"))
    assert warning and "shorter than the longest a batch can run (about 260 s" in warning
    assert warning in caplog.text
    with pytest.raises(VisibilityTimeoutTooShort, match="BULK_SLICE_SECONDS=2"):
        check_visibility_timeout(sqs_config(CELERY_VISIBILITY_TIMEOUT="2"))
    # The app refuses to start with it, naming the setting.
    with pytest.raises(VisibilityTimeoutTooShort, match="CELERY_VISIBILITY_TIMEOUT=2"):
        create_app({"TESTING": True, **sqs_config(CELERY_VISIBILITY_TIMEOUT="2")})


def test_predefined_queues_must_name_every_queue_of_the_project() -> None:
    config = sqs_config(SQS_PREDEFINED_QUEUES="transactional=https://q.example/1/a")
    missing = [name for name in QUEUES if name != "transactional"]
    with pytest.raises(ValueError, match=f"names no URL for the queue\\(s\\) {missing[0]}"):
        create_app({"TESTING": True, **config})


@pytest.mark.sqs
@pytest.mark.sqs_broker
def test_readyz_and_the_live_panel_on_sqs_say_what_is_unavailable(
    app: Flask, client, stack_settings: dict[str, str]
) -> None:
    """/readyz asks SQS for each queue's depth; the live panel cannot ask the workers (SQS has
    no broadcast) and says so instead of reporting them missing."""
    depths = queue_depths(app.config, QUEUES)
    assert set(depths) == set(QUEUES)
    answer = client.get("/readyz?needs=database,broker")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checks"]["broker"]["target"].startswith("sqs://")
    panel = client.get("/stats/system").get_data(as_text=True)
    assert "Amazon SQS carries no remote control" in panel
    assert "No worker answered" not in panel


@pytest.mark.sqs
@pytest.mark.sqs_broker
def test_a_csv_campaign_of_three_hundred_rows_is_delivered_once_each_over_sqs(
    app: Flask, client, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    """The bulk lane end to end on SQS: imported, confirmed, sliced into batches that real
    workers receive from SQS; every row arrives once, personalised."""
    rows = people(300, unique)
    campaign_id = start(client, rows)
    messages = wait_for_final(app, campaign_id, timeout=180)
    assert [m.status for m in messages] == ["sent"] * len(rows)
    for address, name, _city in rows:
        [received] = smtp_server.received_by(address)
        assert received.message["Subject"] == f"Chào {name}: thư mời riêng"
