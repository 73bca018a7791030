"""Faults on the paths a user's mail really takes, with the shipped timers: the broker closing
every connection mid-campaign, the web process killed while API clients post with an
`Idempotency-Key`, and a CSV campaign uploaded and confirmed through the API whose worker is
killed mid-send. Each prints a `FAULT |` line like tests/test_fault_tolerance.py and adds it to
the docs' fault table (scripts/fault_table.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from urllib.parse import unquote, urlsplit

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import select

from dashboard.auth import ADMIN
from dashboard.auth.accounts import create_user
from dashboard.auth.tokens import create_token
from dashboard.extensions import db
from dashboard.models import Message
from tests.csv_campaign_helpers import csv_bytes, upload, wait_for_import
from tests.fault_stack import FaultStack, signed_in, status_counts, tally, wait_for
from tests.smtp_server import free_port
from tests.test_fault_tolerance import (
    RECOVERY_SECONDS,
    fault_stack,  # noqa: F401  (the fixture)
    stale_resends,
    submit,
    wait_recovered,
)

pytestmark = pytest.mark.fault


def close_broker_connections(stack: FaultStack) -> int:
    """Close every connection to this stack's broker and no other: on RabbitMQ those of the
    stack's own vhost (`rabbitmqctl close_connection`), on Redis every client of the stack's own
    redis-server. Returns how many were closed."""
    if stack.broker_url is None:
        client = redis.Redis(port=stack.redis_port, socket_timeout=5)
        closed = client.client_kill_filter(_type="normal", skipme=True)
        closed += client.client_kill_filter(_type="pubsub", skipme=True)
        return int(closed)
    binary = shutil.which("rabbitmqctl")
    assert binary, "TEST_BROKER=rabbitmq needs `rabbitmqctl` on PATH"
    vhost = unquote(urlsplit(stack.broker_url).path[1:])
    listed = subprocess.run(
        [binary, "--quiet", "list_connections", "vhost", "pid"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pids = [
        line.split("\t")[1]
        for line in listed.stdout.splitlines()
        if line.count("\t") == 1 and line.split("\t")[0] == vhost
    ]
    for pid in pids:
        subprocess.run(
            [binary, "--quiet", "close_connection", pid, "fault test: connections closed"],
            check=False,
            capture_output=True,
            timeout=60,
        )
    return len(pids)


def test_the_broker_closing_every_connection_mid_campaign(
    fault_stack: Callable[..., FaultStack],  # noqa: F811
) -> None:
    """RabbitMQ's `close_connection` for each connection of the stack's vhost (what
    `close_all_connections` does to everyone), or Redis's CLIENT KILL on the stack's own
    redis-server: the workers and beat reconnect; a batch given back while its first owner still
    runs finds its rows leased and leaves them, so each message arrives once."""
    stack = fault_stack(shipped=True)
    stack.smtp.script.data_delay = 0.02
    app = stack.app()
    stack.start_worker()
    stack.start_beat()
    total = 1000
    submit(app, total, "closed")
    wait_for(stack, app, lambda c: c["sent"] >= 250, 60, "250 messages sent")
    in_flight = status_counts(app)["sending"]
    closed = close_broker_connections(stack)
    at = time.monotonic()

    recovery = wait_recovered(stack, app, total, at)
    report = tally(
        "the broker closes every connection mid-campaign",
        stack,
        app,
        in_flight=in_flight,
        recovery=recovery,
        detail=f"connections closed: {closed}; stale resends: {stale_resends(app)}",
    )
    assert closed > 0
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert recovery <= RECOVERY_SECONDS


def api_token(app: Flask) -> str:
    with app.app_context():
        user = create_user("api-client@example.com", "correct horse battery", role=ADMIN)
        return create_token(user, "fault clients").secret


def start_web(stack: FaultStack, port: int):
    """gunicorn serving wsgi:app on a loopback port, with the stack's settings."""
    return stack._spawn(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--graceful-timeout",
            "5",
            "--no-control-socket",  # not the one socket in ~/.gunicorn every gunicorn shares
            "wsgi:app",
        ],
        b"Booting worker",
    )


class ApiClient(threading.Thread):
    """Posts one email per address, each with its own Idempotency-Key, and retries the same
    request (same key, same body) after a refused connection, a timeout or a 5xx, as a careful
    client does; bounded in attempts and time."""

    def __init__(self, base: str, token: str, addresses: list[str], deadline: float) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.addresses, self.deadline = base, token, addresses, deadline
        self.keys = {address: f"fault-{uuid.uuid4()}" for address in addresses}
        self.accepted: dict[str, int] = {}  # address -> the id its 202 named
        self.retries = 0
        self.server_errors = 0

    def post(self, session: requests.Session, address: str) -> requests.Response:
        return session.post(
            f"{self.base}/api/v1/emails",
            json={"to": [address], "subject": "Mã đơn hàng", "text": f"Xin chào {address}\n"},
            headers={
                "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": self.keys[address],
            },
            timeout=10,
        )

    def run(self) -> None:
        with requests.Session() as session:
            for address in self.addresses:
                for _ in range(400):
                    if time.monotonic() > self.deadline:
                        return
                    try:
                        response = self.post(session, address)
                    except requests.RequestException:
                        response = None
                    if response is not None and response.status_code == 202:
                        self.accepted[address] = response.json()["id"]
                        break
                    if response is not None and response.status_code >= 500:
                        self.server_errors += 1
                    self.retries += 1
                    time.sleep(0.1)


def test_kill_9_of_the_web_process_while_api_clients_post_with_idempotency_keys(
    fault_stack: Callable[..., FaultStack],  # noqa: F811
) -> None:
    """Four clients post 60 emails each to gunicorn; it is killed (-9, master and workers) after
    about a third and started again 2 s later. Every request that got a 202 is delivered once,
    and every key posted again afterwards gets the same email back, not a second one.

    A request killed after its commit but before its publish leaves its row `queued` with a
    task no broker saw: the sweeper publishes it once it has waited QUEUED_RECHECK_SECONDS
    (60 s), however busy the lane (its task was never noted as published). Such rows are
    counted (`unpublished`)."""
    stack = fault_stack(shipped=True)
    app = stack.app()
    token = api_token(app)
    stack.start_worker()
    stack.start_beat()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(stack, port)
    deadline = time.monotonic() + 120
    clients = [
        ApiClient(base, token, [f"web{c}-{i:03}@example.vn" for i in range(60)], deadline)
        for c in range(4)
    ]
    for client in clients:
        client.start()
    wait_deadline = time.monotonic() + 60
    while sum(len(c.accepted) for c in clients) < 80:
        assert time.monotonic() < wait_deadline, "the clients made no progress"
        time.sleep(0.02)
    stack.kill(web)
    killed_at = sum(len(c.accepted) for c in clients)
    time.sleep(2)
    start_web(stack, port)
    restarted = time.monotonic()
    for client in clients:
        client.join(timeout=max(1.0, deadline - time.monotonic()))
    accepted = {a: i for c in clients for a, i in c.accepted.items()}
    assert len(accepted) == 240, f"only {len(accepted)} of 240 requests got a 202"

    # Every client posts every request again once the web is back: the same email each time.
    replayed = 0
    with requests.Session() as session:
        for client in clients:
            for address in client.addresses:
                response = client.post(session, address)
                assert response.status_code == 202, response.text
                assert response.json()["id"] == accepted[address]
                replayed += response.headers.get("Idempotent-Replayed") == "true"
    recovery = wait_recovered(stack, app, 240, restarted)
    # Published at once, a row arrives within a second or two of its commit; one that waited
    # for the sweeper took more than STALE_QUEUED_SECONDS.
    with app.app_context():
        created = dict(db.session.execute(select(Message.to_address, Message.created_at)).all())
        db.session.rollback()
    unpublished = sum(
        1
        for r in stack.smtp.received
        for address in r.rcpt_tos
        if r.at - created[address].replace(tzinfo=UTC).timestamp() > 25
    )
    retries = sum(c.retries for c in clients)
    server_errors = sum(c.server_errors for c in clients)
    report = tally(
        "the web process killed while API clients post with Idempotency-Key",
        stack,
        app,
        in_flight=0,
        recovery=recovery,
        detail=f"202s before the kill: {killed_at}; client retries: {retries} "
        f"(5xx: {server_errors}); keys posted again after: {replayed}, all the same email; "
        f"committed but not published at the kill, left to the sweeper: {unpublished}",
    )
    assert replayed == 240
    assert server_errors == 0
    assert report.messages == 240  # one email per key, whatever the retries
    assert report.lost == 0
    assert report.duplicates == 0
    assert recovery <= RECOVERY_SECONDS


def test_kill_9_of_the_worker_mid_send_of_a_csv_campaign(
    fault_stack: Callable[..., FaultStack],  # noqa: F811
) -> None:
    """A CSV of 800 rows uploaded and confirmed through the API (its import runs on the
    worker); the worker is killed mid-send and a new one started: each row arrives once, or
    twice only if it was in flight at the kill."""
    stack = fault_stack(shipped=True)
    stack.smtp.script.data_delay = 0.01
    app = stack.app()
    client = signed_in(app)
    worker = stack.start_worker()
    stack.start_beat()
    total = 800
    rows = [["email", "name"]] + [[f"csv{i:05}@example.vn", f"Khách {i}"] for i in range(total)]
    response = upload(client, csv_bytes(rows))
    assert response.status_code == 202, response.json
    campaign_id = response.json["id"]
    body = wait_for_import(client, campaign_id, timeout=90)
    assert body["import"]["status"] == "ready", body
    confirmed = client.post(f"/api/v1/campaigns/{campaign_id}/confirm")
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["affected"] == total

    wait_for(stack, app, lambda c: c["sent"] >= 200, 90, "200 rows sent")
    stack.kill(worker)
    killed = time.monotonic()
    in_flight = status_counts(app)["sending"]
    stack.start_worker()

    recovery = wait_recovered(stack, app, total, killed)
    report = tally(
        "kill -9 of the worker mid-send of a CSV campaign",
        stack,
        app,
        in_flight=in_flight,
        recovery=recovery,
        detail=f"uploaded and confirmed through the API; stale resends: {stale_resends(app)}",
    )
    first = stack.smtp.received_by("csv00007@example.vn")[0]
    assert first.message["Subject"] == "Chào Khách 7"
    assert report.messages == total
    assert report.lost == 0
    assert report.duplicates <= in_flight
    assert recovery <= RECOVERY_SECONDS
