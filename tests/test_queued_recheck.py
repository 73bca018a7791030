"""Tasks the broker lost (Redis flushed, RabbitMQ's queues purged) come back within a minute with
the shipped STALE_QUEUED_SECONDS, because the sweeper republishes rows waiting on a lane whose
broker queue is empty; rows waiting behind a queue that still holds tasks are left alone.

Each test runs a dispatcher of its own (tests/fault_stack.py): its own redis-server, or a
RabbitMQ vhost of its own with TEST_BROKER=rabbitmq, so wiping its broker touches nobody else's."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from amqp.exceptions import ChannelError
from flask import Flask
from kombu import Connection
from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import Message, utcnow
from dashboard.sending.broker_depths import queue_depths
from dashboard.sending.intake import wait_published
from dashboard.sending.queues import QUEUES
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from dashboard.sending.sweeper import sweep_stale
from tests.fault_stack import FaultStack, own_stacks, status_counts, wait_all_final
from tests.smtp_server import ScriptedSMTPServer

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
