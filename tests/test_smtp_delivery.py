"""The mail code alone against a real SMTP server: outcomes per recipient, reconnects, no
network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard.mail.addresses import Mailbox
from dashboard.mail.attachments import safe_filename
from dashboard.mail.headers import HeaderInjectionError
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from dashboard.mail.smtp import (
    AccountUnavailable,
    DeliveryResult,
    Envelope,
    Outcome,
    SmtpSettings,
    deliver_batch,
    try_account,
)
from tests.smtp_server import ScriptedSMTPServer, free_port


@pytest.fixture
def server(smtp_server: ScriptedSMTPServer) -> Iterator[ScriptedSMTPServer]:
    smtp_server.reset()
    yield smtp_server
    smtp_server.reset()


def envelopes(count: int, tag: str) -> list[Envelope]:
    result = []
    skeleton = MimeSkeleton(Mailbox("from@example.com"), has_html=False)
    for key in range(count):
        address = f"m{key}-{tag}@example.com"
        data = skeleton.render(
            Personalised(
                recipient=Mailbox(address),
                subject=f"Tin nhắn {key}",
                text="Nội dung",
                html=None,
                message_id=f"<{key}.{tag}@example.com>",
            )
        )
        result.append(Envelope(key, "from@example.com", address, data))
    return result


def test_dropped_connection_is_reopened_and_nothing_is_lost(server: ScriptedSMTPServer) -> None:
    server.script.drop_every = 2
    batch = envelopes(5, "drop")
    results = list(deliver_batch(batch, SmtpSettings("127.0.0.1", server.port, timeout=5)))
    assert [r.outcome for r in results] == [Outcome.SENT] * 5
    assert server.script.data_count == 9  # four drops, each message resent once after one
    assert sorted(r.rcpt_tos[0] for r in server.received) == sorted(e.recipient for e in batch)


def test_a_refused_connection_is_the_accounts_problem_and_no_message_gets_an_outcome() -> None:
    settings = SmtpSettings("127.0.0.1", free_port(), timeout=2)
    results: list[DeliveryResult] = []
    with pytest.raises(AccountUnavailable, match="cannot be reached: ConnectionRefusedError"):
        results.extend(deliver_batch(envelopes(3, "refused"), settings))
    assert results == []


def test_a_refused_login_is_the_accounts_problem_and_names_no_password() -> None:
    server = ScriptedSMTPServer(login=("sender@example.com", "the right one"))
    server.start()
    try:
        settings = SmtpSettings(
            "127.0.0.1", server.port, "sender@example.com", "a wrong one", timeout=5
        )
        with pytest.raises(AccountUnavailable) as refused:
            list(deliver_batch(envelopes(2, "login"), settings))
        assert refused.value.login_refused and refused.value.code == 535
        assert "a wrong one" not in str(refused.value)
        with pytest.raises(AccountUnavailable):
            try_account(settings)
        try_account(SmtpSettings("127.0.0.1", server.port, "sender@example.com", "the right one"))
        assert server.received == []
    finally:
        server.stop()


def test_4xx_and_5xx_replies_are_told_apart(server: ScriptedSMTPServer) -> None:
    batch = envelopes(3, "codes")
    server.script.rcpt_replies[batch[0].recipient] = "452 4.2.2 Mailbox full"
    server.script.rcpt_replies[batch[1].recipient] = "553 5.1.3 Bad address syntax"
    results = list(deliver_batch(batch, SmtpSettings("127.0.0.1", server.port, timeout=5)))
    assert [(r.outcome, r.code) for r in results] == [
        (Outcome.TRANSIENT, 452),
        (Outcome.PERMANENT, 553),
        (Outcome.SENT, 250),
    ]
    assert results[0].reply == "4.2.2 Mailbox full"


@pytest.mark.parametrize("subject", ["a\rb", "a\nBcc: x@example.com", "a\0b", "x" * 999])
def test_header_values_that_could_inject_are_refused(subject: str) -> None:
    with pytest.raises(HeaderInjectionError):
        MimeSkeleton(Mailbox("from@example.com"), has_html=False).render(
            Personalised(
                recipient=Mailbox("to@example.com"),
                subject=subject,
                text="t",
                html=None,
                message_id="<1@example.com>",
            )
        )


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\a\\report.pdf", "report.pdf"),
        (".hidden", "hidden"),
        ("a\r\nb.txt", "a__b.txt"),
        ("", "attachment"),
    ],
)
def test_attachment_names_cannot_traverse_or_inject(given: str, safe: str) -> None:
    assert safe_filename(given) == safe
