"""What an operator relies on: /healthz and /readyz, Prometheus metrics, one log line per attempt,
and Flower showing the workers. Against the session's real database, broker and SMTP server."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from dashboard import create_app
from dashboard.config import celery_settings, engine_options
from dashboard.extensions import db
from dashboard.ops.local_stack import celery_command, process_env
from dashboard.sending.broker_depths import broker_connection, queue_depths
from dashboard.tasks import send_batch
from tests.conftest import ROOT, app_config, wait_for_final, wait_until
from tests.smtp_server import ScriptedSMTPServer, free_port

BODY = "Nội dung thư bí mật: không được ghi vào nhật ký."


def metric_samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@contextmanager
def built_app(config: dict[str, object]) -> Iterator[Flask]:
    app = create_app(config)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


def test_healthz_answers_without_touching_anything(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_probes_and_the_scrape_answer_strangers(anonymous_client: FlaskClient) -> None:
    assert anonymous_client.get("/healthz").status_code == 200
    assert anonymous_client.get("/readyz").status_code == 200
    assert anonymous_client.get("/metrics").status_code == 200


def test_readyz_names_each_part_and_is_ready_when_all_answer(
    client: FlaskClient, smtp_server: ScriptedSMTPServer, stack_settings: dict[str, str]
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "smtp", "smtp_account"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["smtp"]["target"] == f"127.0.0.1:{smtp_server.port}"
    assert body["checks"]["database"]["target"].split("://")[0] in {"sqlite", "postgresql"}
    assert "/tmp" not in response.get_data(as_text=True)  # no path of this machine, no user
    broker_scheme = stack_settings["CELERY_BROKER_URL"].split("://")[0]
    assert body["checks"]["broker"]["target"].startswith(broker_scheme)


def test_readyz_is_503_naming_what_is_down_and_shows_no_secret(
    stack_settings: dict[str, str], worker: Path
) -> None:
    closed = free_port()  # nothing listens here
    broker = f"amqp://dispatcher:broker-s3cret@127.0.0.1:{closed}/prod"
    config = {
        **app_config(stack_settings),
        "CELERY": celery_settings(broker, stack_settings["CELERY_RESULT_BACKEND"]),
        "MAIL_PORT": closed,
        "MAIL_USERNAME": "sender@example.com",
        "MAIL_PASSWORD": "mail-s3cret",
    }
    with built_app(config) as app:
        client = app.test_client()
        response = client.get("/readyz")
        scrape = client.get("/metrics").get_data(as_text=True)
        database_only = client.get("/readyz?needs=database")
        web_probe = client.get("/readyz?needs=database,broker")
        unknown = client.get("/readyz?needs=database,disk")
    # A web pod's probe may ask only for what its pages need: the database answers here.
    assert database_only.status_code == 200 and database_only.json["status"] == "ready"
    assert database_only.json["checks"]["smtp"]["ok"] is False  # still shown
    assert web_probe.status_code == 503  # the broker is down too
    assert unknown.status_code == 400 and "disk" in unknown.json["error"]
    assert response.status_code == 503
    checks = response.json["checks"]
    assert response.json["status"] == "unavailable"
    assert checks["database"]["ok"] is True
    assert checks["broker"]["ok"] is False and checks["broker"]["error"]
    assert checks["smtp"]["ok"] is False and "Connection refused" in checks["smtp"]["error"]
    assert checks["broker"]["target"].startswith(f"amqp://dispatcher:**@127.0.0.1:{closed}")
    assert "s3cret" not in response.get_data(as_text=True)
    # The scrape still answers, saying which part is down.
    assert 'dispatcher_up{part="broker"} 0.0' in scrape
    assert 'dispatcher_up{part="database"} 1.0' in scrape
    assert "s3cret" not in scrape


def test_readyz_reports_an_unreachable_database_without_its_password(
    stack_settings: dict[str, str], worker: Path
) -> None:
    closed = free_port()
    database = f"postgresql+psycopg://dispatcher:db-s3cret@127.0.0.1:{closed}/dispatcher"
    config = {
        **app_config(stack_settings),
        "SQLALCHEMY_DATABASE_URI": database,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database),
    }
    with built_app(config) as app:
        client = app.test_client()
        response = client.get("/readyz")
        scrape = client.get("/metrics").get_data(as_text=True)
    assert response.status_code == 503
    checks = response.json["checks"]
    assert checks["database"]["ok"] is False
    assert checks["database"]["target"] == f"postgresql://127.0.0.1:{closed}/dispatcher"
    assert "Connection refused" in checks["database"]["error"]
    assert checks["broker"]["ok"] is True and checks["smtp"]["ok"] is True
    assert "s3cret" not in response.get_data(as_text=True)
    assert 'dispatcher_up{part="database"} 0.0' in scrape
    assert "dispatcher_messages" not in scrape


def test_metrics_count_states_replies_retries_and_latency(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    # A window longer than the session: no earlier attempt drops out between the two scrapes.
    app.config["METRICS_WINDOW_SECONDS"] = 24 * 3600
    before = metric_samples(client)
    addresses = [f"m{i}-{unique}@example.vn" for i in range(4)]
    smtp_server.script.rcpt_replies[addresses[0]] = "550 5.1.1 No such user"
    smtp_server.script.data_replies.append("451 4.3.0 Try again later")
    response = client.post(
        "/api/v1/emails", json={"to": addresses, "subject": "Đo lường", "text": "x"}
    )
    assert response.status_code == 202
    wait_for_final(app, response.json["id"])

    after = metric_samples(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert grew("dispatcher_messages", state="sent") == 3
    assert grew("dispatcher_messages", state="failed") == 1
    assert after[("dispatcher_messages", (("state", "sending"),))] >= 0
    assert grew("dispatcher_smtp_replies", code="250", outcome="sent") == 3
    assert grew("dispatcher_smtp_replies", code="550", outcome="permanent") == 1
    assert grew("dispatcher_smtp_replies", code="451", outcome="transient") == 1
    assert grew("dispatcher_retries") == 1
    # Five attempts (three sent, one refused, one retried), each in the latency histogram.
    assert grew("dispatcher_send_duration_seconds_gcount") == 5
    assert grew("dispatcher_send_duration_seconds_bucket", le="+Inf") == 5
    assert after[("dispatcher_up", (("part", "database"),))] == 1
    assert after[("dispatcher_up", (("part", "broker"),))] == 1
    for queue in ("transactional", "bulk"):
        assert after[("dispatcher_queue_depth", (("queue", queue),))] >= 0


def test_queue_depth_is_read_from_the_broker(app: Flask) -> None:
    queue = f"depth-{os.getpid()}"  # no worker consumes it
    with app.app_context():
        assert queue_depths(app.config, [queue]) == {queue: 0}
        for _ in range(3):
            send_batch.apply_async(args=[[]], queue=queue)
        try:
            # RabbitMQ counts a queue's messages a moment after it confirms their publish.
            wait_until(
                lambda: queue_depths(app.config, [queue]) == {queue: 3},
                timeout=10,
                what="the broker to count the three published batches",
            )
        finally:
            with broker_connection(app.config) as connection:
                connection.default_channel.queue_delete(queue)


def test_one_log_line_per_attempt_without_body_or_address(
    app: Flask, client: FlaskClient, worker: Path, unique: str
) -> None:
    addresses = [f"log{i}-{unique}@Example.VN" for i in range(2)]
    response = client.post(
        "/api/v1/emails", json={"to": addresses, "subject": "Nhật ký", "text": BODY}
    )
    assert response.status_code == 202
    campaign_id = response.json["id"]
    messages = wait_for_final(app, campaign_id)

    def lines() -> list[str]:
        text = worker.read_text(errors="replace")
        return [line for line in text.splitlines() if f"delivery campaign={campaign_id} " in line]

    found = wait_until(lambda: len(lines()) == 2 and lines(), what="the delivery log lines")
    for message, line in zip(messages, found, strict=True):
        assert f"message={message.id} domain=example.vn outcome=sent code=250 " in line
        assert " duration_ms=" in line and " worker=tests-" in line
    log = worker.read_text(errors="replace")
    assert BODY not in log
    assert all(address.split("@")[0] not in log for address in addresses)


@pytest.fixture
def flower_url(stack_settings: dict[str, str], worker: Path, tmp_path: Path) -> Iterator[str]:
    """Flower, started exactly as the README says, on a free loopback port."""
    port = free_port()
    log_path = tmp_path / "flower.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            celery_command("flower", "--address=127.0.0.1", f"--port={port}"),
            cwd=ROOT,
            env=process_env(stack_settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_flower_lists_the_running_worker(flower_url: str) -> None:
    def workers_page() -> str | None:
        try:
            with urllib.request.urlopen(f"{flower_url}/workers", timeout=5) as response:
                page = response.read().decode()
        except (URLError, ConnectionError):
            return None
        return page if f"tests-{os.getpid()}@" in page else None

    page = wait_until(workers_page, timeout=60, what="Flower to list the session's worker")
    assert "Online" in page or "online" in page


def test_rabbitmq_is_chosen_by_the_broker_url_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.config import load_settings

    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://dispatcher:pw@mq.internal:5672/prod")
    celery = load_settings()["CELERY"]
    assert celery["broker_url"] == "amqp://dispatcher:pw@mq.internal:5672/prod"
    assert celery["result_backend"] == "redis://cache.internal:6379/2"  # task states for the API

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://queue.internal:6379/0")
    assert load_settings()["CELERY"]["result_backend"] == "redis://queue.internal:6379/0"
