"""Fault tests against real processes: each starts its own Redis, workers, beat and SMTP server,
breaks one of them mid-run, and ends with every message final, none lost, and no more
duplicates than messages were in flight when the fault struck. Each prints a `FAULT |` line;
the README's table comes from those lines (`pytest -m fault -s`).

With `TEST_BROKER=rabbitmq` each test gets a RabbitMQ vhost of its own as the broker (created
and deleted as tests/engines.py does), except the one that stops and wipes Redis as the broker,
which stays on Redis; results and the shared rate limit are on the test's Redis either way."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import DeliveryAttempt, Message
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests import engines
from tests.fault_stack import (
    FaultStack,
    database_away,
    status_counts,
    tally,
    wait_all_final,
    wait_for,
)
from tests.smtp_server import ScriptedSMTPServer

pytestmark = pytest.mark.fault


@pytest.fixture
def fault_stack(tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    """Make a stack on the session's engines (TEST_DATABASE, TEST_BROKER: a database and a vhost
    of its own); `redis_broker=True` keeps the broker on Redis whatever TEST_BROKER says."""
    stacks: list[FaultStack] = []
    with contextlib.ExitStack() as vhosts:

        def make(
            *, redis_broker: bool = False, shipped: bool = False, **overrides: str
        ) -> FaultStack:
            broker_url = None
            if engines.TEST_BROKER == "rabbitmq" and not redis_broker:
                name = f"{engines.session_name('dispatcher-fault')}-{len(stacks)}"
                broker_url = vhosts.enter_context(engines.rabbitmq_vhost(name))
            database_url = None
            if engines.TEST_DATABASE == "postgresql":
                name = f"{engines.session_name('dispatcher_fault')}_{len(stacks)}"
                database_url = vhosts.enter_context(engines.postgres_database(name))
            smtp = ScriptedSMTPServer()
            smtp.start()
            stack = FaultStack(tmp_path, smtp, overrides, broker_url, database_url, shipped=shipped)
            stacks.append(stack)
            stack.start_redis()
            stack.migrate()
            return stack

        yield make
        # Processes first, so that no worker is connected to a vhost when it is deleted.
        for stack in stacks:
            stack.close()
            with contextlib.suppress(Exception):  # a test may have left it stopped
                stack.smtp.stop()


def submit(app: Flask, count: int, tag: str, send_at: datetime | None = None) -> int:
    addresses = [f"{tag}{i:05}@example.vn" for i in range(count)]
    with app.app_context():
        content = EmailContent.model_validate(
            {"to": addresses, "subject": f"Kiểm thử lỗi {tag}", "text": "Xin chào"}
        )
        return submit_email(content, source="api", send_at=send_at).id


def stale_resends(app: Flask) -> int:
    with app.app_context():
        total = db.session.scalar(select(func.sum(Message.stale_resends))) or 0
        db.session.rollback()
        return int(total)


def messages_with(app: Flask, *conditions) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(Message.id)).where(*conditions))
        db.session.rollback()
        return int(count or 0)


def attempts_with(app: Flask, *conditions) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(DeliveryAttempt.id)).where(*conditions))
        db.session.rollback()
        return int(count or 0)


def test_kill_9_of_a_worker_mid_campaign_then_a_new_worker(
    fault_stack: Callable[..., FaultStack],
) -> None:
    stack = fault_stack(STALE_QUEUED_SECONDS="30")  # unclaimed work comes back via the broker
    app = stack.app()
    worker = stack.start_worker()
    stack.start_beat()
    total = 2000
    submit(app, total, "kill")
    wait_for(stack, app, lambda c: c["sent"] >= 400, 60, "400 messages sent")
    stack.kill(worker)
    in_flight = status_counts(app)["sending"]  # claimed by the dead worker: maybe sent, maybe not
    stack.start_worker()

    counts = wait_all_final(stack, app, total, timeout=120)
    # Redis gives the dead worker's unacked batches back after the visibility timeout, RabbitMQ
    # as soon as its connection drops: the batch's redelivery or the sweeper resends each once.
    taken_over = attempts_with(app, DeliveryAttempt.worker.startswith("redelivered "))
    swept = attempts_with(app, DeliveryAttempt.worker == "sweeper")
    report = tally(
        "kill -9 of the worker mid-campaign, then a new worker",
        stack,
        app,
        in_flight=in_flight,
        detail=f"stale rows resent once: {stale_resends(app)} "
        f"(by the redelivered batch: {taken_over}, by the sweeper: {swept})",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert stale_resends(app) == in_flight


def test_kill_9_of_one_pool_process_gives_its_rows_back_once_their_lease_ran_out(
    fault_stack: Callable[..., FaultStack],
) -> None:
    """task_reject_on_worker_lost gives the batch back at once; its orphaned rows go again once
    their lease runs out (the redelivered task takes over only rows whose lease ran out, so
    most are the sweeper's), each at most once."""
    stack = fault_stack(STALE_QUEUED_SECONDS="600")
    stack.smtp.script.data_delay = 0.01
    app = stack.app()
    worker = stack.start_worker()
    stack.start_beat()
    total = 1000
    submit(app, total, "child")
    wait_for(stack, app, lambda c: c["sent"] >= 200, 60, "200 messages sent")
    os.kill(stack.pool_process_sending(worker), signal.SIGKILL)
    in_flight = status_counts(app)["sending"]

    counts = wait_all_final(stack, app, total, timeout=90)
    swept = attempts_with(app, DeliveryAttempt.worker == "sweeper")
    taken_over = attempts_with(app, DeliveryAttempt.worker.startswith("redelivered "))
    report = tally(
        "kill -9 of one pool process mid-batch",
        stack,
        app,
        in_flight=in_flight,
        detail=f"rows taken over by the redelivered batch: {taken_over}; swept: {swept}",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert 0 < taken_over + swept <= in_flight
    assert stale_resends(app) == taken_over + swept


def test_redis_stopped_and_wiped_mid_campaign_then_started_again(
    fault_stack: Callable[..., FaultStack],
) -> None:
    """Redis as the broker loses every queued task; the sweeper must find the rows again."""
    stack = fault_stack(redis_broker=True)
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 1000
    submit(app, total, "wipe")
    wait_for(stack, app, lambda c: c["sent"] >= 200, 60, "200 messages sent")
    in_flight = status_counts(app)["sending"]
    stack.stop_redis()  # no persistence: every queued task and the bindings are gone
    time.sleep(3)
    stack.start_redis()

    counts = wait_all_final(stack, app, total, timeout=120)
    report = tally(
        "Redis stopped and its data wiped mid-campaign, then started",
        stack,
        app,
        in_flight=in_flight,
        detail=f"stale rows resent once: {stale_resends(app)}",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates <= in_flight


def test_smtp_answers_421_or_451_to_a_fifth_and_drops_every_hundredth(
    fault_stack: Callable[..., FaultStack],
) -> None:
    stack = fault_stack()
    stack.smtp.script.transient_rate = 0.2
    stack.smtp.script.drop_every = 100
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 500
    submit(app, total, "flaky")

    counts = wait_all_final(stack, app, total, timeout=120)
    refused = attempts_with(app, DeliveryAttempt.smtp_code.in_([421, 451]))
    drops = stack.smtp.script.data_count // 100
    report = tally(
        "SMTP answers 421/451 to 20% at random, drops every 100th",
        stack,
        app,
        in_flight=0,
        detail=f"421/451 replies retried: {refused}; connections dropped: {drops}",
    )
    assert counts["sent"] == total and counts["failed"] == 0
    assert report.lost == 0
    assert report.duplicates == 0
    assert refused > total * 0.1  # the faults really happened
    assert drops >= 5


# The test's own SMTP server is stopped mid-conversation on purpose: asyncio may then report a
# transport it never got to close, which is the fault itself, not the dispatcher's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_smtp_refusing_connections_for_30_seconds(
    fault_stack: Callable[..., FaultStack],
) -> None:
    stack = fault_stack(
        MAIL_BATCH_SIZE="20",
        MAIL_MAX_RETRIES="12",
        MAIL_RETRY_BASE_SECONDS="1",
        MAIL_RETRY_MAX_SECONDS="10",
    )
    stack.smtp.script.data_delay = 0.05
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 300
    submit(app, total, "down")
    wait_for(stack, app, lambda c: c["sent"] >= 60, 60, "60 messages sent")
    stack.smtp.stop()
    in_flight = status_counts(app)["sending"]
    time.sleep(30)
    waiting = status_counts(app)
    # The account is held: its mail waits untried, no retry spent (see test_account_hold.py).
    # Held messages say why they wait (the hold names the account's problem: a refused
    # connection, or the server closing the conversation it was in when it stopped).
    held = messages_with(
        app, Message.status == "retrying", Message.last_reply.startswith("waiting: ")
    )
    stack.smtp.restart()

    counts = wait_all_final(stack, app, total, timeout=120)
    report = tally(
        "SMTP server refusing connections for 30 s",
        stack,
        app,
        in_flight=in_flight,
        detail=f"messages held while the account was unreachable: {held}",
    )
    assert waiting["failed"] == 0 and waiting["retrying"] > 0  # waiting, not failing
    assert counts["sent"] == total and counts["failed"] == 0
    # Every waiting message was held untried, but for the batch in flight when the server
    # stopped: those were in their SMTP conversation and count a transient failure instead.
    assert waiting["retrying"] - in_flight <= held <= waiting["retrying"]
    assert report.lost == 0
    assert report.duplicates <= in_flight


def test_rate_limit_of_50_per_second_holds_across_two_workers(
    fault_stack: Callable[..., FaultStack],
) -> None:
    stack = fault_stack(RATE_LIMIT_PER_SECOND="50", MAIL_BATCH_SIZE="25", STALE_QUEUED_SECONDS="60")
    app = stack.app()
    stack.start_worker("w1")
    stack.start_worker("w2")
    stack.start_beat()
    total = 600
    submit(app, total, "rate")

    counts = wait_all_final(stack, app, total, timeout=90)
    times = sorted(r.at for r in stack.smtp.received)
    rate = (len(times) - 1) / (times[-1] - times[0])
    with app.app_context():
        workers = db.session.scalar(select(func.count(func.distinct(DeliveryAttempt.worker))))
    report = tally(
        "rate limit 50 msgs/s shared by two workers",
        stack,
        app,
        in_flight=0,
        detail=f"measured {rate:.1f} msgs/s over {times[-1] - times[0]:.1f} s; workers: {workers}",
    )
    assert counts["sent"] == total
    assert report.lost == 0 and report.duplicates == 0
    assert workers == 2
    assert 45 <= rate <= 55, f"measured {rate:.1f} msgs/s"


def test_scheduled_sends_survive_a_restart_of_beat_worker_and_redis(
    fault_stack: Callable[..., FaultStack],
) -> None:
    stack = fault_stack(STALE_QUEUED_SECONDS="2", LEASE_SECONDS="6")
    app = stack.app()
    worker = stack.start_worker()
    beat = stack.start_beat()
    start = datetime.now(UTC)
    due_at: dict[str, float] = {}
    for second in range(20):  # 20 campaigns of 5, one due each second over the next 20 s
        due = start + timedelta(seconds=second + 1.5)
        campaign_id = submit(app, 5, f"due{second:02}-", send_at=due)
        with app.app_context():
            for message in db.session.scalars(
                select(Message).where(Message.campaign_id == campaign_id)
            ):
                due_at[message.to_address] = due.timestamp()
    assert status_counts(app)["scheduled"] == 100

    # The worker is killed and Redis wiped at about 7 s, the beat killed at about 13 s; each
    # comes back cold (a new process, Redis empty).
    wait_for(stack, app, lambda c: c["sent"] >= 30, 30, "the first scheduled sends")
    outages = []
    down_at = time.monotonic()
    stack.kill(worker)
    in_flight = status_counts(app)["sending"]
    stack.stop_redis()
    stack.start_redis()
    stack.start_worker()
    outages.append(time.monotonic() - down_at)
    wait_for(stack, app, lambda c: c["sent"] >= 60, 30, "sends after the worker's restart")
    down_at = time.monotonic()
    stack.kill(beat)
    stack.start_beat()
    outages.append(time.monotonic() - down_at)

    wait_all_final(stack, app, 100, timeout=60)
    received = {address: r.at for r in stack.smtp.received for address in r.rcpt_tos}
    lateness = [received[address] - due for address, due in due_at.items() if address in received]
    report = tally(
        "100 scheduled over 20 s; beat, worker and Redis restarted mid-way",
        stack,
        app,
        in_flight=in_flight,
        detail=f"latest {max(lateness):.1f} s after due; earliest {min(lateness):.1f} s; "
        f"worker down {outages[0]:.1f} s, beat down {outages[1]:.1f} s",
    )
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert min(lateness) >= 0  # never early
    # Mail due while a process was down goes once it is back: late by that outage and a few
    # dispatch rounds at most. The outages are this machine's (a slow one's worker takes 6 s to
    # come back), so the bound is too; minutes late would mean it waited for the sweeper.
    assert max(lateness) <= max(outages) + 5


# --- At a provider's pace, with the shipped timers -------------------------------------------
# The tests below keep config.py's recovery timers (the lease, the sweep, the visibility
# timeout, the retries): what a user gets. Recovery is timed from the fault's end to every
# message final, and must stay within RECOVERY_SECONDS.
RECOVERY_SECONDS = 90


def wait_recovered(stack: FaultStack, app: Flask, total: int, since: float) -> float:
    """Wait (bounded) until every message is final; the seconds it took since `since`."""
    wait_all_final(stack, app, total, timeout=RECOVERY_SECONDS + 60)
    return time.monotonic() - since


def test_a_low_shared_rate_and_a_slow_server_send_nothing_twice(
    fault_stack: Callable[..., FaultStack],
) -> None:
    """3 messages a second shared by two workers (four processes), a server answering DATA in
    250 ms: each batch of 50 takes about a minute, longer than its lease, which it renews. No
    fault: nothing may arrive twice."""
    stack = fault_stack(shipped=True, RATE_LIMIT_PER_SECOND="3")
    stack.smtp.script.data_delay = 0.25
    app = stack.app()
    stack.start_worker("w1")
    stack.start_worker("w2")
    stack.start_beat()
    total = 150
    submit(app, total, "pace")

    counts = wait_all_final(stack, app, total, timeout=150)
    times = sorted(r.at for r in stack.smtp.received)
    report = tally(
        "3 msgs/s shared by two workers, DATA answered in 250 ms (no fault)",
        stack,
        app,
        in_flight=0,
        detail=f"{(len(times) - 1) / (times[-1] - times[0]):.1f} msgs/s over "
        f"{times[-1] - times[0]:.0f} s; stale resends: {stale_resends(app)}",
    )
    assert counts["sent"] == total
    assert report.lost == 0 and report.duplicates == 0
    assert stale_resends(app) == 0  # no live batch's rows were taken from it


def test_the_database_away_mid_campaign_loses_no_outcome(
    fault_stack: Callable[..., FaultStack],
) -> None:
    """PostgreSQL refusing connections for 15 s, or SQLite locked for 33 s (past the workers'
    busy timeout): batches stop sending, keep their outcomes, write them when the database is
    back, and go on; batches that could not claim are retried, not dropped."""
    stack = fault_stack(shipped=True)
    stack.smtp.script.data_delay = 0.02
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 1000
    submit(app, total, "dbaway")
    before = wait_for(stack, app, lambda c: c["sent"] >= 150, 60, "150 messages sent")
    in_flight = before["sending"]
    seconds = 15 if stack.database_url else 33
    with database_away(stack, seconds):
        received_at_fault = len(stack.smtp.received)
    ended = time.monotonic()
    delivered_during = len(stack.smtp.received) - received_at_fault

    recovery = wait_recovered(stack, app, total, ended)
    report = tally(
        "the database away mid-campaign",
        stack,
        app,
        in_flight=in_flight,
        recovery=recovery,
        detail=f"away {seconds} s; delivered during the outage: {delivered_during}; "
        f"stale resends: {stale_resends(app)}",
    )
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert recovery <= RECOVERY_SECONDS


def test_kill_9_of_one_of_two_workers_mid_batch(
    fault_stack: Callable[..., FaultStack],
) -> None:
    """The other worker goes on; the dead one's rows come back when their lease runs out, its
    unstarted batches when the broker gives them back (RabbitMQ at once, Redis after the
    visibility timeout)."""
    stack = fault_stack(shipped=True)
    stack.smtp.script.data_delay = 0.02
    app = stack.app()
    doomed = stack.start_worker("w1")
    stack.start_worker("w2")
    stack.start_beat()
    total = 1500
    submit(app, total, "half")
    wait_for(stack, app, lambda c: c["sent"] >= 200, 60, "200 messages sent")
    stack.kill(doomed)
    killed = time.monotonic()
    in_flight = status_counts(app)["sending"]

    recovery = wait_recovered(stack, app, total, killed)
    report = tally(
        "kill -9 of one of two workers mid-batch",
        stack,
        app,
        in_flight=in_flight,
        recovery=recovery,
        detail=f"stale rows resent once: {stale_resends(app)}",
    )
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert recovery <= RECOVERY_SECONDS


def test_a_lost_250_after_data_repeats_at_most_that_message(
    fault_stack: Callable[..., FaultStack],
) -> None:
    """The server takes every 50th message, then closes the connection before its 250: the
    worker reconnects and sends that message again (it cannot know it arrived). At most one
    duplicate per lost reply, none for the others."""
    stack = fault_stack(shipped=True)
    stack.smtp.script.lose_reply_every = 50
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 300
    submit(app, total, "lost250")

    counts = wait_all_final(stack, app, total, timeout=120)
    lost_replies = stack.smtp.script.data_count // 50
    report = tally(
        "the server's 250 after DATA lost for every 50th message",
        stack,
        app,
        in_flight=lost_replies,
        detail=f"replies lost: {lost_replies}",
    )
    assert counts["sent"] == total
    assert report.lost == 0
    assert report.duplicates <= lost_replies
