"""An SMTP account that refuses the login (535) or cannot be reached is the account's problem, not
each message's: its mail waits with no attempt counted, every page and /readyz say so, and the
mail goes by itself once beat's probe logs in again. Real workers, beat, Redis and aiosmtpd."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.mail.smtp import AccountUnavailable
from dashboard.models import DeliveryAttempt, Message
from dashboard.sending.account_hold import hold_account
from tests.fault_stack import FaultStack, own_stacks, signed_in, wait_for
from tests.smtp_server import ScriptedSMTPServer

USERNAME = "sender@example.com"
PASSWORD = "app-password-Ư-s3cr3t"
TOTAL = 30


@pytest.fixture
def stack_with(tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    with own_stacks(tmp_path, "hold") as make:
        yield make


def running(stack: FaultStack) -> tuple[FaultStack, Flask, FlaskClient]:
    """The stack with its worker and beat started, its app and a signed-in client."""
    app = stack.app()
    client = signed_in(app)
    stack.start_worker()
    stack.start_beat()
    return stack, app, client


def submit(client: FlaskClient, tag: str) -> int:
    response = client.post(
        "/api/v1/emails",
        json={
            "to": [f"{tag}{i:03}@example.vn" for i in range(TOTAL)],
            "subject": f"Mã xác nhận {tag}",
            "text": "Mã của bạn là 123456",
        },
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.json["id"]


def rows(app: Flask) -> list[tuple[str, int, str]]:
    with app.app_context():
        found = db.session.execute(
            select(Message.status, Message.attempts, Message.last_reply).order_by(Message.id)
        ).all()
        db.session.rollback()
        return [tuple(row) for row in found]


def attempts_logged(app: Flask) -> int:
    with app.app_context():
        count = len(db.session.scalars(select(DeliveryAttempt.id)).all())
        db.session.rollback()
        return count


def assert_held_everywhere(stack: FaultStack, app: Flask, client: FlaskClient, problem: str):
    """Every message waits untried, the banner and /readyz say why, and no password shows."""
    waiting = wait_for(
        stack, app, lambda c: c["retrying"] == TOTAL, 60, "every message waiting on the hold"
    )
    assert waiting["failed"] == waiting["sent"] == 0
    assert all(attempts == 0 for _, attempts, _ in rows(app))  # no retry was spent
    assert attempts_logged(app) == 0
    assert all(problem in reply for _, _, reply in rows(app))

    for path in ("/", "/campaigns/", "/history/"):
        page = client.get(path).get_data(as_text=True)
        assert 'id="account-held"' in page and problem in page, path
        assert PASSWORD not in page
    ready = client.get("/readyz")
    assert ready.status_code == 503
    check = ready.json["checks"]["smtp_account"]
    assert check["ok"] is False and problem in check["error"]
    assert f"127.0.0.1:{stack.smtp.port}" == check["target"]
    assert PASSWORD not in ready.get_data(as_text=True)


def assert_resumed_by_itself(stack: FaultStack, app: Flask, client: FlaskClient, tag: str):
    counts = wait_for(stack, app, lambda c: c["sent"] == TOTAL, 60, "the held mail to go")
    assert counts["failed"] == 0
    assert all(attempts == 1 for _, attempts, _ in rows(app))  # one try each: the one that sent
    received = sorted(address for r in stack.smtp.received for address in r.rcpt_tos)
    assert received == [f"{tag}{i:03}@example.vn" for i in range(TOTAL)]
    assert 'id="account-held"' not in client.get("/").get_data(as_text=True)
    ready = client.get("/readyz")
    assert ready.json["checks"]["smtp_account"]["ok"] is True


def test_a_refused_login_holds_the_account_then_its_mail_goes_by_itself(
    stack_with: Callable[..., FaultStack],
) -> None:
    smtp = ScriptedSMTPServer(login=(USERNAME, "the password it had before"))
    smtp.start()
    stack, app, client = running(stack_with(smtp, MAIL_USERNAME=USERNAME, MAIL_PASSWORD=PASSWORD))

    submit(client, "login")
    assert_held_everywhere(stack, app, client, "refuses the login (535")
    assert smtp.received == []
    refused_so_far = smtp.logins_refused
    assert refused_so_far >= 1

    smtp.login = (USERNAME, PASSWORD)  # the account is fixed (a new app password, say)
    assert_resumed_by_itself(stack, app, client, "login")


def test_an_unreachable_server_holds_the_account_then_its_mail_goes_by_itself(
    stack_with: Callable[..., FaultStack],
) -> None:
    smtp = ScriptedSMTPServer()
    smtp.start()
    smtp.stop()  # nothing listens on its port: connections are refused
    stack, app, client = running(stack_with(smtp))

    submit(client, "down")
    assert_held_everywhere(stack, app, client, "cannot be reached (ConnectionRefusedError")

    smtp.restart()
    assert_resumed_by_itself(stack, app, client, "down")


def test_send_test_says_when_the_account_is_held(
    stack_with: Callable[..., FaultStack],
) -> None:
    smtp = ScriptedSMTPServer()
    smtp.start()
    stack = stack_with(smtp, MAIL_USERNAME=USERNAME, MAIL_PASSWORD=PASSWORD)
    app = stack.app()
    with app.app_context():
        refused = AccountUnavailable(
            535, "5.7.8 Username and Password not accepted", login_refused=True
        )
        hold_account(app.config, refused)

    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=["send-test", "--to", "an@example.vn", "--timeout", "20"]
        )
    assert result.exit_code == 1, result.output
    assert (
        f"is waiting, not sent: the SMTP account at 127.0.0.1:{smtp.port} refuses the login "
        "(535 5.7.8 Username and Password not accepted), so its mail is held"
    ) in result.output
    assert "It goes by itself once a probe of the account succeeds" in result.output
    assert PASSWORD not in result.output
    assert smtp.received == []


def test_a_server_offering_no_login_holds_the_account_and_says_what_to_change(
    stack_with: Callable[..., FaultStack],
) -> None:
    """A user name for a server whose EHLO offers no AUTH (a relay port, or AUTH only after
    STARTTLS) is the account's setting to change, named as such, not "cannot be reached"."""
    smtp = ScriptedSMTPServer()  # offers no AUTH
    smtp.start()
    stack, app, client = running(stack_with(smtp, MAIL_USERNAME=USERNAME, MAIL_PASSWORD=PASSWORD))

    submit(client, "noauth")
    assert_held_everywhere(stack, app, client, "offers no login on this port and TLS setting")
    page = client.get("/campaigns/", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "không cho đăng nhập ở cổng và thiết lập TLS này" in page
    assert "cannot be reached" not in page and "không kết nối được" not in page

    smtp.stop()
    smtp.login = (USERNAME, PASSWORD)  # the server now offers AUTH (its submission port, say)
    smtp.restart()
    assert_resumed_by_itself(stack, app, client, "noauth")
