"""Several sending accounts in a pool, with real workers, beat, Redis and two or three aiosmtpd
servers on loopback: each account's limits hold (per day, per second), the pool goes on without
an account that refuses its login or cannot be reached, and every recipient arrives exactly once
across the servers. And an account that logs in with XOAUTH2 gets its access token from a
loopback token endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message
from tests.fault_stack import FaultStack, own_stacks, signed_in, wait_all_final
from tests.smtp_server import ScriptedSMTPServer
from tests.token_endpoint import TokenEndpoint

KEY = Fernet.generate_key().decode()
USER = "pool-user@example.com"
PASSWORD = "mật-khẩu-app-s3cr3t"


@pytest.fixture
def stack_with(tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    with own_stacks(tmp_path, "pool") as make:
        yield make


@pytest.fixture
def servers() -> Iterator[Callable[..., ScriptedSMTPServer]]:
    started: list[ScriptedSMTPServer] = []

    def start(**kwargs) -> ScriptedSMTPServer:
        server = ScriptedSMTPServer(**kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.controller._thread is not None:  # a test may have stopped it already
            server.stop()


def add_account(client: FlaskClient, name: str, server: ScriptedSMTPServer, **fields) -> int:
    response = client.post(
        "/api/v1/accounts",
        json={"name": name, "host": "127.0.0.1", "port": server.port, "tls_mode": "none", **fields},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["id"]


def add_pool(client: FlaskClient, name: str, accounts: list[str]) -> None:
    response = client.post("/api/v1/pools", json={"name": name, "accounts": accounts})
    assert response.status_code == 201, response.get_data(as_text=True)


def submit(client: FlaskClient, tag: str, total: int, account: str) -> list[str]:
    addresses = [f"{tag}{i:03}@example.vn" for i in range(total)]
    response = client.post(
        "/api/v1/emails",
        json={"to": addresses, "subject": f"Pool {tag}", "text": "Xin chào", "account": account},
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return addresses


def recipients(server: ScriptedSMTPServer) -> list[str]:
    return [address for received in server.received for address in received.rcpt_tos]


def most_in_one_second(server: ScriptedSMTPServer) -> int:
    times = sorted(received.at for received in server.received)
    return max(
        (sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)), default=0
    )


def attempts(app: Flask) -> list[int]:
    with app.app_context():
        found = list(db.session.scalars(select(Message.attempts)))
        db.session.rollback()
        return found


def panel(client: FlaskClient) -> str:
    response = client.get("/stats/system")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_pool_spreads_its_mail_within_each_accounts_limits(
    stack_with: Callable[..., FaultStack], servers: Callable[..., ScriptedSMTPServer]
) -> None:
    default = servers()
    fast = servers()
    slow = servers(login=(USER, PASSWORD))
    stack = stack_with(default, ACCOUNT_KEYS=KEY)
    app = stack.app()
    client = signed_in(app)
    add_account(client, "fast", fast, per_second=20)
    add_account(client, "slow", slow, username=USER, password=PASSWORD, per_second=4, per_day=12)
    add_pool(client, "both", ["fast", "slow"])
    stack.start_worker(concurrency=2)
    stack.start_beat()

    expected = submit(client, "spread", 80, "both")
    counts = wait_all_final(stack, app, 80, 120)

    assert counts["sent"] == 80
    assert sorted(recipients(fast) + recipients(slow)) == expected  # each exactly once
    assert default.received == []  # the pool's mail never took the default account
    assert 0 < len(recipients(slow)) <= 12  # the slow account's day is 12 messages
    assert len(recipients(fast)) >= 68
    assert all(n == 1 for n in attempts(app))
    # Each account's own bucket: its rate, plus the one burst its bucket holds.
    assert most_in_one_second(fast) <= 20 + 2 + 1
    assert most_in_one_second(slow) <= 4 + 1 + 1
    shown = panel(client)
    assert f"{len(recipients(slow))} / 12" in shown  # the slow account's budget today
    assert 'id="account-health-fast"' in shown and "at most 20.0 a second" in shown
    assert PASSWORD not in shown


def test_a_pool_goes_on_without_an_account_that_refuses_its_login_or_its_connections(
    stack_with: Callable[..., FaultStack], servers: Callable[..., ScriptedSMTPServer]
) -> None:
    default = servers()
    good = servers()
    refusing = servers(login=(USER, "the password it has now"))
    down = servers()
    down.stop()  # nothing listens on its port: connections are refused
    stack = stack_with(default, ACCOUNT_KEYS=KEY)
    app = stack.app()
    client = signed_in(app)
    add_account(client, "refusing", refusing, username=USER, password=PASSWORD)
    add_account(client, "down", down)
    add_account(client, "good", good)
    add_pool(client, "failover", ["refusing", "down", "good"])
    stack.start_worker(concurrency=2)
    stack.start_beat()

    expected = submit(client, "failover", 120, "failover")
    counts = wait_all_final(stack, app, 120, 120)

    assert counts["sent"] == 120
    assert sorted(recipients(good)) == expected  # none lost, none twice
    assert refusing.received == [] and refusing.logins_refused >= 1
    assert default.received == []
    assert all(n == 1 for n in attempts(app))  # failing over spent no retry
    shown = panel(client)
    assert "refusing at 127.0.0.1:" in shown and "refuses the login (535" in shown
    assert "down at 127.0.0.1:" in shown and "cannot be reached" in shown
    assert PASSWORD not in shown
    # Every page's banner and /readyz name each held account, not only the default one.
    banner = client.get("/").get_data(as_text=True)
    assert 'id="account-held"' in banner and "Accounts page" in banner
    assert "refusing at 127.0.0.1:" in banner and "down at 127.0.0.1:" in banner
    assert "good at 127.0.0.1:" not in banner and PASSWORD not in banner
    ready = client.get("/readyz")
    assert ready.status_code == 503
    problem = ready.json["checks"]["smtp_account"]["error"]
    assert "refusing at 127.0.0.1:" in problem and "down at 127.0.0.1:" in problem
    assert PASSWORD not in ready.get_data(as_text=True)

    # The account is fixed: beat's probe lifts its hold, and the pool uses it again.
    refusing.login = (USER, PASSWORD)
    deadline = time.monotonic() + 30
    while "refuses the login" in panel(client):
        assert time.monotonic() < deadline, "the probe did not lift the hold"
        time.sleep(0.2)
    more = submit(client, "again", 60, "failover")
    wait_all_final(stack, app, 180, 120)
    assert sorted(recipients(good) + recipients(refusing)) == sorted(expected + more)
    assert recipients(refusing)  # the lifted account takes its share again
    banner = client.get("/").get_data(as_text=True)
    assert "down at 127.0.0.1:" in banner and "refusing at 127.0.0.1:" not in banner


def test_an_account_logs_in_with_xoauth2_using_a_token_from_its_refresh_token(
    stack_with: Callable[..., FaultStack], servers: Callable[..., ScriptedSMTPServer]
) -> None:
    default = servers()
    gmail = servers(bearer=(USER, "ya29.access-1"))
    with TokenEndpoint(
        client_id="client-1.apps.example",
        client_secret="client-secret-1",
        refresh_token="1//refresh-token-1",
        token="ya29.access-1",
    ) as endpoint:
        stack = stack_with(default, ACCOUNT_KEYS=KEY)
        app = stack.app()
        client = signed_in(app)
        add_account(
            client,
            "gmail",
            gmail,
            username=USER,
            auth="xoauth2",
            oauth_client_id="client-1.apps.example",
            oauth_client_secret="client-secret-1",
            oauth_refresh_token="1//refresh-token-1",
            oauth_token_url=endpoint.url,
            from_allowed=["@example.com"],
        )
        stack.start_worker(concurrency=1)
        stack.start_beat()

        expected = submit(client, "oauth", 30, "gmail")
        counts = wait_all_final(stack, app, 30, 60)

        assert counts["sent"] == 30
        assert sorted(recipients(gmail)) == expected
        assert default.received == []
        assert gmail.handler.bearer_logins and set(gmail.handler.bearer_logins) == {"ya29.access-1"}
        # One token, kept until it expires, for every login of the worker's process.
        assert len(endpoint.requests) == 1
        assert endpoint.requests[0]["refresh_token"] == "1//refresh-token-1"
        assert "1//refresh-token-1" not in panel(client)
        assert "1//refresh-token-1" not in stack.log_tail(10**6)
