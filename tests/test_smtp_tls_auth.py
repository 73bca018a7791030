"""Sending the way Gmail and most providers want it: STARTTLS on 587 or implicit TLS on 465,
then AUTH. The servers are real aiosmtpd servers on loopback with a certificate from a test CA
(trustme), trusted through SSL_CERT_FILE, the same way a private CA is trusted in production.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dashboard.mail.addresses import Mailbox
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from dashboard.mail.smtp import AccountUnavailable, Envelope, Outcome, SmtpSettings, deliver_batch
from dashboard.sending.account import smtp_settings
from tests.smtp_server import free_port

USERNAME = "sender@example.com"
PASSWORD = "app-password-s3cr3t-Ư"  # non-ASCII on purpose: AUTH must carry it as UTF-8


@dataclass
class SecureHandler:
    """Accepts mail only over TLS from the one user; records what each delivery looked like."""

    received: list[dict[str, object]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            {
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "login": session.auth_data.login.decode() if session.authenticated else None,
                "rcpt_tos": list(envelope.rcpt_tos),
                "raw": envelope.original_content,
            }
        )
        return "250 2.0.0 Ok: queued"


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode() == USERNAME and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=good, handled=False, auth_data=auth_data)


@pytest.fixture(scope="module")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[trustme.CA]:
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(bundle))  # read by ssl.create_default_context()
        yield ca


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def serve(ca: trustme.CA, tls: str, **options: object) -> Iterator[tuple[SecureHandler, int]]:
    """Run an aiosmtpd server on a free loopback port; `tls` names where its certificate goes:
    `tls_context` (offered through STARTTLS) or `ssl_context` (TLS from the first byte)."""
    handler, port = SecureHandler(), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        **{tls: server_context(ca)},
        **options,
    )
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def starttls_server(certificate_authority: trustme.CA) -> Iterator[tuple[SecureHandler, int]]:
    yield from serve(
        certificate_authority,
        "tls_context",
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
    )


@pytest.fixture
def implicit_tls_server(certificate_authority: trustme.CA) -> Iterator[tuple[SecureHandler, int]]:
    # aiosmtpd counts only STARTTLS as TLS, and warns when AUTH is required without it; the
    # whole socket is TLS here, and the handler checks that the client did log in.
    yield from serve(certificate_authority, "ssl_context", auth_require_tls=False)


def envelope_to(address: str) -> Envelope:
    data = MimeSkeleton(Mailbox(USERNAME, "Người gửi"), has_html=False).render(
        Personalised(
            recipient=Mailbox(address, "Nguyễn Văn A"),
            subject="Qua TLS và AUTH",
            text="Xin chào qua kết nối mã hoá.",
            html=None,
            message_id="<tls-test@example.com>",
        )
    )
    return Envelope(1, USERNAME, address, data)


def test_starttls_then_auth_delivers_like_gmail_on_587(
    starttls_server: tuple[SecureHandler, int],
) -> None:
    handler, port = starttls_server
    settings = SmtpSettings(
        "localhost", port, username=USERNAME, password=PASSWORD, use_tls=True, timeout=10
    )
    [result] = deliver_batch([envelope_to("a@example.vn")], settings)
    assert (result.outcome, result.code) == (Outcome.SENT, 250)
    [delivery] = handler.received
    assert delivery["tls"] is True
    assert delivery["login"] == USERNAME
    assert delivery["rcpt_tos"] == ["a@example.vn"]
    message = BytesParser(policy=policy.default).parsebytes(delivery["raw"])
    assert message["Subject"] == "Qua TLS và AUTH"
    assert message.get_content().replace("\r\n", "\n") == "Xin chào qua kết nối mã hoá.\n"


class PipeliningSecureHandler(SecureHandler):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


def test_messages_pipelined_over_starttls_arrive_exactly_as_written(
    certificate_authority: trustme.CA,
) -> None:
    handler, port = PipeliningSecureHandler(), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        tls_context=server_context(certificate_authority),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        settings = SmtpSettings(
            "localhost", port, username=USERNAME, password=PASSWORD, use_tls=True, timeout=10
        )
        addresses = [f"p{k}@example.vn" for k in range(3)]
        envelopes = [envelope_to(address) for address in addresses]
        results = list(deliver_batch(envelopes, settings))
    finally:
        controller.stop()
    assert [(r.outcome, r.code) for r in results] == [(Outcome.SENT, 250)] * 3
    assert [(d["tls"], d["login"], d["rcpt_tos"]) for d in handler.received] == [
        (True, USERNAME, [address]) for address in addresses
    ]
    assert [d["raw"] for d in handler.received] == [e.data for e in envelopes]


def test_implicit_tls_then_auth_delivers_on_465(
    implicit_tls_server: tuple[SecureHandler, int],
) -> None:
    handler, port = implicit_tls_server
    settings = SmtpSettings(
        "localhost", port, username=USERNAME, password=PASSWORD, use_ssl=True, timeout=10
    )
    [result] = deliver_batch([envelope_to("b@example.vn")], settings)
    assert (result.outcome, result.code) == (Outcome.SENT, 250)
    assert [(d["tls"], d["login"]) for d in handler.received] == [(True, USERNAME)]


def test_a_wrong_password_is_reported_without_revealing_it(
    starttls_server: tuple[SecureHandler, int], caplog: pytest.LogCaptureFixture
) -> None:
    handler, port = starttls_server
    wrong = "not-the-password-Ư"
    settings = SmtpSettings(
        "localhost", port, username=USERNAME, password=wrong, use_tls=True, timeout=10
    )
    # The account's problem, not the message's: the worker holds the account's mail until a
    # login works again (tests/test_account_hold.py), spending no retry.
    with caplog.at_level(logging.DEBUG), pytest.raises(AccountUnavailable) as refused:
        list(deliver_batch([envelope_to("c@example.vn")], settings))
    assert (refused.value.login_refused, refused.value.code) == (True, 535)
    assert "Authentication" in str(refused.value)
    assert wrong not in str(refused.value) and wrong not in caplog.text
    assert wrong not in repr(settings)
    assert handler.received == []


def test_a_certificate_the_client_does_not_trust_is_refused(
    starttls_server: tuple[SecureHandler, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    handler, port = starttls_server
    untrusted = trustme.CA()  # a different CA: the server's certificate no longer verifies
    bundle = tmp_path / "other-ca.pem"
    untrusted.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    settings = SmtpSettings(
        "localhost", port, username=USERNAME, password=PASSWORD, use_tls=True, timeout=10
    )
    with pytest.raises(AccountUnavailable, match="CERTIFICATE_VERIFY_FAILED") as refused:
        list(deliver_batch([envelope_to("d@example.vn")], settings))
    assert not refused.value.login_refused
    assert handler.received == []


def test_the_mail_settings_become_the_smtp_settings() -> None:
    config = {
        "MAIL_SERVER": "smtp.gmail.com",
        "MAIL_PORT": 587,
        "MAIL_USERNAME": USERNAME,
        "MAIL_PASSWORD": PASSWORD,
        "MAIL_USE_TLS": True,
        "MAIL_USE_SSL": False,
        "MAIL_TIMEOUT": 30.0,
    }
    assert smtp_settings(config) == SmtpSettings(
        "smtp.gmail.com", 587, USERNAME, PASSWORD, use_tls=True, use_ssl=False, timeout=30.0
    )
