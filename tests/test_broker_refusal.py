"""The broker refuses after the email is stored: the API still answers 202 (never a 5xx for a
stored submission), the rows wait `queued`, and the dispatcher publishes them once the broker is
back, so each recipient gets the message once, even when the client retries with its
`Idempotency-Key`.

The broker is the session's kind (`TEST_BROKER`): a redis-server of the test's own that is
stopped, or a RabbitMQ vhost of the test's own that is deleted (the broker then refuses at the
protocol level, AMQP's `NotAllowed`) and created again. The sweeper is set far away (10 min) so
that what is published again is the dispatcher's doing."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from kombu import Connection
from sqlalchemy import select

from dashboard.config import celery_settings
from dashboard.extensions import db
from dashboard.models import Message
from dashboard.sending.redis_transport import Transport as ProjectRedisTransport
from tests import engines
from tests.fault_stack import FaultStack, signed_in
from tests.smtp_server import ScriptedSMTPServer

WAIT_SECONDS = 180  # a busy machine: the workers reconnect with a growing backoff


def _rabbitmqctl(*args: str, check: bool = True) -> None:
    binary = shutil.which("rabbitmqctl")
    assert binary, "TEST_BROKER=rabbitmq needs `rabbitmqctl` on PATH"
    subprocess.run([binary, "--quiet", *args], check=check, capture_output=True, timeout=60)


class Broker:
    """The test's own broker, which the test can take away and give back."""

    def __init__(self, stack: FaultStack, vhost: str | None) -> None:
        self.stack, self.vhost = stack, vhost

    def create(self) -> None:
        if self.vhost is None:
            self.stack.start_redis()
            return
        user = urlsplit(engines.RABBITMQ_URL).username or "guest"
        _rabbitmqctl("add_vhost", self.vhost)
        _rabbitmqctl("set_permissions", "-p", self.vhost, user, ".*", ".*", ".*")

    def remove(self) -> None:
        if self.vhost is None:
            self.stack.stop_redis()
        else:
            _rabbitmqctl("delete_vhost", self.vhost)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[FaultStack, Broker]]:
    vhost = broker_url = None
    if engines.TEST_BROKER == "rabbitmq":
        vhost = f"{engines.session_name('dispatcher-refusal')}-{uuid.uuid4().hex[:6]}"
        parts = urlsplit(engines.RABBITMQ_URL)
        broker_url = parts._replace(path=f"/{vhost}").geturl()
    with contextlib.ExitStack() as resources:
        database_url = None
        if engines.TEST_DATABASE == "postgresql":
            name = f"{engines.session_name('dispatcher_refusal')}_{os.getpid()}"
            database_url = resources.enter_context(engines.postgres_database(name))
        smtp = ScriptedSMTPServer()
        smtp.start()
        resources.callback(smtp.stop)
        # Only the dispatcher publishes again here: the sweeper would wait 10 minutes.
        overrides = {"STALE_QUEUED_SECONDS": "600", "LEASE_SECONDS": "45"}
        fault_stack = FaultStack(tmp_path, smtp, overrides, broker_url, database_url)
        broker = Broker(fault_stack, vhost)
        if vhost is not None:
            broker.create()
            resources.callback(_rabbitmqctl, "delete_vhost", vhost, check=False)
        resources.callback(fault_stack.close)  # processes first, then the vhost
        fault_stack.start_redis()
        fault_stack.migrate()
        yield fault_stack, broker


def _post(client: FlaskClient, address: str, subject: str, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/api/v1/emails",
        json={"to": [address], "subject": subject, "text": "Mã của bạn là 482913.\n"},
        headers=headers,
    )


def _wait(what: str, predicate, stack: FaultStack) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{stack.log_tail()}")
        time.sleep(0.2)


def test_a_broker_that_refuses_after_the_commit_gets_a_202_and_the_mail_goes_once(stack):
    fault_stack, broker = stack
    fault_stack.start_worker()
    fault_stack.start_beat()
    app = fault_stack.app()
    client = signed_in(app)
    smtp = fault_stack.smtp

    before = _post(client, "truoc@example.vn", "Trước sự cố")
    assert before.status_code == 202
    _wait("the first email", lambda: smtp.received_by("truoc@example.vn"), fault_stack)

    broker.remove()
    subject = "Mã xác nhận khi máy chủ hàng đợi vắng mặt"
    key = f"retry-{uuid.uuid4()}"
    first = _post(client, "an@example.vn", subject, key)
    assert first.status_code == 202, first.get_data(as_text=True)
    # The client did not hear back in time and sends the same request again.
    again = _post(client, "an@example.vn", subject, key)
    assert again.status_code == 202, again.get_data(as_text=True)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = _post(client, "binh@example.vn", "Hoá đơn tháng 12")
    assert other.status_code == 202, other.get_data(as_text=True)
    with app.app_context():
        statuses = db.session.scalars(
            select(Message.status).where(
                Message.campaign_id.in_([first.get_json()["id"], other.get_json()["id"]])
            )
        ).all()
        db.session.rollback()
    assert sorted(statuses) == ["queued", "queued"]
    assert not smtp.received_by("an@example.vn")

    broker.create()
    _wait(
        "both emails after the broker came back",
        lambda: smtp.received_by("an@example.vn") and smtp.received_by("binh@example.vn"),
        fault_stack,
    )
    # And a retry after that still finds the first job, which is not sent a second time.
    late = _post(client, "an@example.vn", subject, key)
    assert late.status_code == 202 and late.get_json()["id"] == first.get_json()["id"]
    after = _post(client, "sau@example.vn", "Sau sự cố")
    assert after.status_code == 202

    def rows() -> list[tuple[str, str]]:
        with app.app_context():
            found = db.session.execute(select(Message.to_address, Message.status)).all()
            db.session.rollback()
        return sorted(tuple(row) for row in found)

    everyone = ["an@example.vn", "binh@example.vn", "sau@example.vn", "truoc@example.vn"]
    _wait("every row sent", lambda: rows() == [(a, "sent") for a in everyone], fault_stack)
    [received] = smtp.received_by("an@example.vn")
    assert received.message["Subject"] == subject
    assert received.message.get_content() == "Mã của bạn là 482913.\r\n"  # as on the wire
    assert [len(smtp.received_by(address)) for address in everyone] == [1, 1, 1, 1]


def test_a_broker_lost_while_a_send_is_unacknowledged_leaves_the_worker_running(stack):
    """Tasks are acknowledged late: while an email is being sent its task is unacknowledged,
    and the broker going away then must not stop the worker (with Kombu's own Redis transport
    the worker dies of an AttributeError as it gives the task back; see redis_transport.py)."""
    fault_stack, broker = stack
    worker = fault_stack.start_worker()
    # As `make run` starts it: an email whose publish meets the broker not quite back is left
    # to the beat's dispatcher (`mark_unpublished`), not lost until the sweeper's recheck.
    fault_stack.start_beat()
    app = fault_stack.app()
    client = signed_in(app)
    smtp = fault_stack.smtp
    smtp.script.data_delay = 3  # the send is under way, its task unacknowledged, for 3 s

    during = _post(client, "dang-gui@example.vn", "Gửi khi hàng đợi mất")
    assert during.status_code == 202
    _wait("the send to begin", lambda: smtp.script.mail_count >= 1, fault_stack)
    broker.remove()
    _wait("the send to end", lambda: smtp.received_by("dang-gui@example.vn"), fault_stack)
    time.sleep(1)  # the worker has met the lost broker and given the task back by now
    assert worker.poll() is None, fault_stack.log_tail()
    broker.create()
    smtp.script.data_delay = 0

    after = _post(client, "sau-khi@example.vn", "Sau khi hàng đợi trở lại")
    assert after.status_code == 202
    _wait(
        "the email after the broker came back",
        lambda: smtp.received_by("sau-khi@example.vn"),
        fault_stack,
    )
    assert worker.poll() is None, fault_stack.log_tail()
    assert len(smtp.received_by("dang-gui@example.vn")) == 1
    assert len(smtp.received_by("sau-khi@example.vn")) == 1


@pytest.mark.parametrize(
    ("broker_url", "project_transport", "tls"),
    [
        ("redis://127.0.0.1:6379/0", True, None),
        ("rediss://:secret@redis.example.vn:6380/0?ssl_cert_reqs=required", True, "required"),
        # Kombu's own TLS default (no certificate check) for a URL that names none: named by a
        # setting, the project's transport would not know the URL said rediss and go plain.
        ("rediss://:secret@redis.example.vn:6380/0", False, "none"),
        ("amqp://guest:guest@127.0.0.1:5672//", False, None),
    ],
)
def test_which_brokers_use_the_project_redis_transport(broker_url, project_transport, tls):
    settings = celery_settings(broker_url, "redis://127.0.0.1:6379/1")
    connection = Connection(broker_url, transport=settings.get("broker_transport"))
    assert (connection.transport_cls == "dashboard.sending.redis_transport:Transport") is (
        project_transport
    )
    if project_transport:
        assert isinstance(connection.transport, ProjectRedisTransport)
    wanted = {"required": ssl.CERT_REQUIRED, "none": ssl.CERT_NONE}.get(tls)
    assert (connection.ssl or {}).get("ssl_cert_reqs") == wanted
