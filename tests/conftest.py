"""Real parts for every test: the machine's Redis (our own db number), a Celery worker started
for the session, an aiosmtpd server on a free loopback port, and a migrated SQLite database.

Nothing here skips: a missing service fails the run, in CI and out of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from dashboard import create_app
from dashboard.celery_app import QUEUES
from dashboard.config import celery_settings
from dashboard.extensions import db
from dashboard.models import FINAL_STATUSES, Message
from tests.smtp_server import ScriptedSMTPServer

ROOT = Path(__file__).resolve().parent.parent
# db 13 of the machine's Redis is these tests'; TEST_REDIS_URL lets two checkouts test at once.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKER_READY_SECONDS = 60

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float = 30, what: str = "") -> T:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[ScriptedSMTPServer]:
    server = ScriptedSMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}). Start it, e.g. `redis-server "
            "--daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`.",
            pytrace=False,
        )
    client.flushdb()  # tasks left over from an earlier run must not reach this run's worker
    return client


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def stack_settings(
    stack_dir: Path, smtp_server: ScriptedSMTPServer, redis_client: redis.Redis
) -> dict[str, str]:
    """The environment shared by the worker process and the test's app: one source for both."""
    return {
        "INSTANCE_DIR": str(stack_dir),
        "DATABASE_URL": f"sqlite:///{stack_dir / 'dispatcher.db'}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": "false",
        "MAIL_USE_SSL": "false",
        "MAIL_TIMEOUT": "10",
        "MAIL_DEFAULT_SENDER": "Hệ thống Gửi thư <dispatcher@example.com>",
        "MAIL_BATCH_SIZE": "50",
        "MAIL_MAX_RETRIES": "3",
        "MAIL_RETRY_BASE_SECONDS": "0.5",
        "MAIL_RETRY_MAX_SECONDS": "2",
        "SECRET_KEY": "test-secret-key",
        "CSV_MAX_ROWS": "20000",
    }


def _process_env(settings: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **settings, "FLASK_APP": "wsgi", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def migrated_database(stack_settings: dict[str, str]) -> str:
    """The schema comes from the migrations, exactly as `make run` applies them."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env=_process_env(stack_settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}"
    return stack_settings["DATABASE_URL"]


@pytest.fixture(scope="session")
def worker(
    stack_settings: dict[str, str], migrated_database: str, stack_dir: Path
) -> Iterator[Path]:
    """A real Celery worker process for the whole session; yields its log file."""
    log_path = stack_dir / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_worker",
                "worker",
                "--loglevel",
                "info",
                "--concurrency",
                "2",
                "--pool",
                "prefork",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"tests-{os.getpid()}@%h",
                "--queues",
                ",".join(QUEUES),
            ],
            cwd=ROOT,
            env=_process_env(stack_settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while b" ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "the Celery worker did not start:\n"
                    + log_path.read_text(errors="replace")[-4000:],
                    pytrace=False,
                )
            time.sleep(0.2)
        yield log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def app_config(settings: dict[str, str]) -> dict[str, Any]:
    """The same settings as the worker's, as a mapping for `create_app`."""
    return {
        "TESTING": True,
        "SECRET_KEY": settings["SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
        "CELERY": celery_settings(settings["CELERY_BROKER_URL"], settings["CELERY_RESULT_BACKEND"]),
        "MAIL_SERVER": settings["MAIL_SERVER"],
        "MAIL_PORT": int(settings["MAIL_PORT"]),
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_DEFAULT_SENDER": settings["MAIL_DEFAULT_SENDER"],
        "MAIL_BATCH_SIZE": int(settings["MAIL_BATCH_SIZE"]),
        "CSV_MAX_ROWS": int(settings["CSV_MAX_ROWS"]),
    }


@pytest.fixture
def app(stack_settings: dict[str, str], worker: Path, smtp_server: ScriptedSMTPServer) -> Flask:
    smtp_server.reset()
    return create_app(app_config(stack_settings))


@pytest.fixture
def unique() -> str:
    """A token to keep this test's addresses apart from every other test's."""
    return f"{time.monotonic_ns():x}"


def messages_of(app: Flask, campaign_id: int) -> list[Message]:
    with app.app_context():
        db.session.expire_all()
        messages = db.session.scalars(
            select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)
        ).all()
        for message in messages:
            db.session.expunge(message)
        return list(messages)


def wait_for_final(app: Flask, campaign_id: int, timeout: float = 30) -> list[Message]:
    """Wait until every message of the campaign is in a final state; return them."""

    def final() -> list[Message] | None:
        messages = messages_of(app, campaign_id)
        return messages if messages and all(m.status in FINAL_STATUSES for m in messages) else None

    return wait_until(final, timeout=timeout, what=f"campaign {campaign_id} to finish")


def count_rows(app: Flask, model: type) -> int:
    with app.app_context():
        return len(db.session.scalars(select(model.id)).all())
