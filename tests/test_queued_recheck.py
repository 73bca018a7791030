"""Tasks the broker lost (Redis flushed, RabbitMQ's queues purged) come back within a minute with
the shipped STALE_QUEUED_SECONDS, because the sweeper republishes rows waiting on a lane whose
broker queue is empty; rows waiting behind a queue that still holds tasks are left alone, but
for rows whose task was never published (a web process killed between its commit and its
publish), which go again within 90 s however busy their lane is.

Each test runs a dispatcher of its own (tests/fault_stack.py): its own redis-server, or a
RabbitMQ vhost of its own with TEST_BROKER=rabbitmq, so wiping its broker touches nobody else's."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests
from amqp.exceptions import ChannelError
from flask import Flask
from kombu import Connection
from sqlalchemy import select, update

from dashboard.auth import ADMIN
from dashboard.auth.accounts import create_user
from dashboard.auth.tokens import create_token
from dashboard.extensions import db
from dashboard.models import Message, utcnow
from dashboard.sending.broker_depths import queue_depths
from dashboard.sending.intake import wait_published
from dashboard.sending.publishing import send_task
from dashboard.sending.queues import QUEUES, SEND_BATCH
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from dashboard.sending.sweeper import sweep_stale
from tests.fault_stack import FaultStack, own_stacks, status_counts, wait_all_final
from tests.smtp_server import ScriptedSMTPServer, free_port

pytestmark = pytest.mark.fault

SENDING_QUEUES = [queue for queue in QUEUES if queue != "housekeeping"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[FaultStack]:
    """A dispatcher with the shipped timers (STALE_QUEUED_SECONDS 600), but a 3 s re-check."""
    smtp = ScriptedSMTPServer()
    smtp.start()
    with own_stacks(tmp_path, "recheck") as make:
        made = make(smtp, QUEUED_RECHECK_SECONDS="3")
        made.shipped = True
        yield made


def submit(app: Flask, count: int, tag: str) -> list[str]:
    addresses = [f"{tag}{i:04}@example.vn" for i in range(count)]
    with app.app_context():
        content = EmailContent.model_validate(
            {"to": addresses, "subject": f"Mất tác vụ {tag}", "text": "Xin chào"}
        )
        submit_email(content, source="api")
    assert wait_published(app)  # the tasks are on the broker before the test looks
    return addresses


def waiting_batches(app: Flask) -> int:
    return sum(queue_depths(app.config, SENDING_QUEUES).values())


def wipe_broker(stack: FaultStack) -> None:
    """Lose every task: FLUSHDB of the stack's own redis-server, or purge its own vhost's queues."""
    if stack.broker == "redis":
        redis.Redis.from_url(stack.redis_url).flushdb()
        return
    with Connection(stack.broker_url) as connection:
        for queue in QUEUES:
            channel = connection.channel()
            with contextlib.suppress(ChannelError):  # a queue never declared holds nothing
                channel.queue_purge(queue)
            with contextlib.suppress(Exception):
                channel.close()


def test_tasks_wiped_from_the_broker_are_sent_once_each_with_the_shipped_backstop(
    stack: FaultStack,
) -> None:
    app = stack.app()
    addresses = submit(app, 300, "wiped")
    assert waiting_batches(app) > 0
    wipe_broker(stack)
    assert waiting_batches(app) == 0
    assert status_counts(app)["queued"] == 300

    stack.start_worker()
    stack.start_beat()
    # STALE_QUEUED_SECONDS is 600: only the re-check of empty lanes can bring them back here.
    counts = wait_all_final(stack, app, 300, timeout=90)

    assert counts["sent"] == 300
    received = Counter(address for r in stack.smtp.received for address in r.rcpt_tos)
    assert received == Counter({address: 1 for address in addresses})


def test_rows_waiting_behind_tasks_on_their_queue_are_not_republished(
    stack: FaultStack,
) -> None:
    app = stack.app()
    submit(app, 120, "behind")
    batches = waiting_batches(app)
    assert batches > 0
    with app.app_context():
        # Waiting two minutes: past the re-check, still short of the backstop.
        db.session.execute(update(Message).values(updated_at=utcnow() - timedelta(seconds=120)))
        db.session.commit()
        report = sweep_stale()
        assert report["republished"] == 0 and report["requeued"] == 0
        assert waiting_batches(app) == batches  # nothing new on the broker

        wipe_broker(stack)  # now the lane is empty and the rows' tasks are gone
        assert sweep_stale()["republished"] == 120
        assert waiting_batches(app) > 0
        # Published again just now: the next sweep waits for the re-check age again.
        assert sweep_stale()["republished"] == 0
        queued = db.session.scalars(select(Message.status)).all()
        assert set(queued) == {"queued"}


# The busy lane: this many emails at SMTP_DELAY s each over two connections take about 100 s,
# longer than the re-check age plus a sweep, so the queue still holds tasks when the sweeper
# looks at the killed web process's rows.
BUSY_EMAILS = 1000
SMTP_DELAY = 0.2
RECOVERY_SECONDS = 90


@contextlib.contextmanager
def silent_broker() -> Iterator[int]:
    """A loopback port that takes connections (the kernel completes them) and never answers: a
    publish to it waits, so the process publishing is killed with its batch still in hand."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def start_web(stack: FaultStack, port: int, broker_url: str):
    """gunicorn serving wsgi:app on a loopback port, publishing to `broker_url`."""
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    argv += ["--no-control-socket", "wsgi:app"]
    return stack._spawn("web", argv, b"Booting worker", env={"CELERY_BROKER_URL": broker_url})


def republished_counts(stack: FaultStack) -> list[tuple[int, str]]:
    """Each sweep's republished rows in the logs: how many, and the lanes it names."""
    pattern = re.compile(r"sweeper: (\d+) queued rows published again \((.*?)\)")
    return [
        (int(count), lanes)
        for path in stack.logs.values()
        for count, lanes in pattern.findall(path.read_text(errors="replace"))
    ]


def test_an_email_stored_by_a_web_process_killed_before_its_publish_goes_within_90_s_on_a_busy_lane(
    tmp_path: Path,
) -> None:
    """gunicorn stores three API emails and answers 202, then is killed (-9) before it has
    published them; the transactional lane meanwhile holds a long queue that the worker drains
    at its own pace. With the shipped timers the sweeper publishes the three within 90 s, and
    only them (the queue's own rows wait their turn); a copy of a task published on purpose
    sends nothing twice (the claim gives each row to one batch); every email arrives once."""
    smtp = ScriptedSMTPServer()
    smtp.script.data_delay = SMTP_DELAY
    smtp.start()
    with own_stacks(tmp_path, "unpublished") as make, silent_broker() as silent_port:
        stack = make(smtp)
        stack.shipped = True
        app = stack.app()
        with app.app_context():
            user = create_user("api-client@example.com", "correct horse battery", role=ADMIN)
            token = create_token(user, "killed web").secret
        busy = submit(app, BUSY_EMAILS // 2, "busy-a") + submit(app, BUSY_EMAILS // 2, "busy-b")
        stack.start_worker("sender", queues=["transactional", "bulk"])
        stack.start_worker("housekeeping", concurrency=1, queues=["housekeeping"])
        stack.start_beat()

        scheme = "redis" if stack.broker == "redis" else "amqp"
        port = free_port()
        web = start_web(stack, port, f"{scheme}://127.0.0.1:{silent_port}/0")
        stored = [f"stored-{i}@example.vn" for i in range(3)]
        for address in stored:
            answer = requests.post(
                f"http://127.0.0.1:{port}/api/v1/emails",
                json={"to": [address], "subject": "Mã xác nhận", "text": "482913"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
        stack.kill(web)
        killed = time.monotonic()

        def rows() -> list[tuple[str, str | None, object]]:
            with app.app_context():
                found = db.session.execute(
                    select(Message.status, Message.task_id, Message.next_attempt_at)
                    .where(Message.to_address.in_(stored))
                    .order_by(Message.id)
                ).all()
                db.session.rollback()
            return [tuple(row) for row in found]

        # Stored, never published, and not marked for the dispatcher either: the web was
        # killed before its publish could even fail.
        at_kill = rows()
        assert [(status, due) for status, _, due in at_kill] == [("queued", None)] * 3
        assert waiting_batches(app) > 0

        deadline = killed + RECOVERY_SECONDS + 30
        while all(row[1] == task_id for row, (_, task_id, _) in zip(rows(), at_kill, strict=True)):
            assert time.monotonic() < deadline, stack.log_tail()
            time.sleep(0.25)
        published_after = time.monotonic() - killed
        lane_waiting = waiting_batches(app)

        # A second task for rows that already have one (what a wrong guess would publish):
        # the claim lets one batch have each row.
        with app.app_context():
            again = list(
                db.session.scalars(
                    select(Message.id)
                    .where(Message.status == "queued", Message.to_address.like("busy-b%"))
                    .order_by(Message.id.desc())
                    .limit(20)
                )
            )
            db.session.rollback()
            send_task(SEND_BATCH, [again], queue="transactional")
            send_task(SEND_BATCH, [again[:10]], queue="transactional")

        counts = wait_all_final(stack, app, BUSY_EMAILS + 3, timeout=240)
        received = Counter(address for r in stack.smtp.received for address in r.rcpt_tos)
        sweeps = republished_counts(stack)

    print(
        f"RECHECK | {stack.database}+{stack.broker} | published {published_after:.1f} s after "
        f"the kill, with {lane_waiting} batches still waiting on the lane | sweeps: {sweeps}"
    )
    assert published_after <= RECOVERY_SECONDS
    assert lane_waiting > 0  # the lane was busy: only the never-published rows went again
    assert sum(count for count, _ in sweeps) == 3, sweeps
    assert all("busy lanes ['transactional']" in lanes for _, lanes in sweeps), sweeps
    assert len(again) == 20
    assert counts["sent"] == BUSY_EMAILS + 3
    assert received == Counter({address: 1 for address in [*busy, *stored]})
