"""Against a server that offers PIPELINING (as Postfix and Gmail do), MAIL, RCPT and DATA go in
one write; every outcome must still be the one the server gave for that message."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from dashboard.mail.smtp import Envelope, Outcome, SmtpSettings, deliver_batch
from tests.smtp_server import ScriptedHandler, ScriptedSMTPServer


class PipeliningHandler(ScriptedHandler):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
def pipelining_server() -> Iterator[ScriptedSMTPServer]:
    server = ScriptedSMTPServer()
    server.handler = PipeliningHandler()
    server.controller.handler = server.handler
    server.start()
    yield server
    server.stop()


def test_pipelined_batch_keeps_each_outcome_and_the_exact_bytes(
    pipelining_server: ScriptedSMTPServer,
) -> None:
    body = "Subject: Chào\r\n\r\n.một dòng bắt đầu bằng dấu chấm\r\n..và hai\r\nhết".encode()
    refused = "refused@example.vn"
    pipelining_server.script.rcpt_replies[refused] = "550 5.1.1 No such user"
    envelopes = [
        Envelope(1, "from@example.com", "a@example.vn", body),
        Envelope(2, "from@example.com", refused, b"Subject: x\r\n\r\nx\r\n"),
        Envelope(3, "from@example.com", "c@example.vn", b"Subject: y\r\n\r\ny\r\n"),
        Envelope(4, "from@example.com", "d@example.vn", b"Subject: z\r\n\r\nz\r\n"),
    ]
    settings = SmtpSettings("127.0.0.1", pipelining_server.port, timeout=10)
    with smtplib.SMTP("127.0.0.1", pipelining_server.port, timeout=10) as probe:
        probe.ehlo()
        assert probe.has_extn("pipelining")  # so deliver_batch takes the pipelined path

    results = {result.key: result for result in deliver_batch(envelopes, settings)}
    assert results[1].outcome is Outcome.SENT and results[1].code == 250
    assert (results[2].outcome, results[2].code) == (Outcome.PERMANENT, 550)
    assert "No such user" in results[2].reply
    assert results[3].outcome is Outcome.SENT and results[4].outcome is Outcome.SENT

    [first] = pipelining_server.received_by("a@example.vn")
    assert first.raw.replace(b"\r\n", b"\n") == body.replace(b"\r\n", b"\n") + b"\n"
    assert pipelining_server.received_by(refused) == []
    assert [len(pipelining_server.received_by(a)) for a in ("c@example.vn", "d@example.vn")] == [
        1,
        1,
    ]


def test_pipelined_data_refusal_is_that_message_only(pipelining_server: ScriptedSMTPServer) -> None:
    pipelining_server.script.data_replies.append("451 4.3.0 Try again later")
    envelopes = [
        Envelope(1, "from@example.com", "a@example.vn", b"Subject: a\r\n\r\na\r\n"),
        Envelope(2, "from@example.com", "b@example.vn", b"Subject: b\r\n\r\nb\r\n"),
    ]
    settings = SmtpSettings("127.0.0.1", pipelining_server.port, timeout=10)
    results = [(r.key, r.outcome, r.code) for r in deliver_batch(envelopes, settings)]
    assert results == [(1, Outcome.TRANSIENT, 451), (2, Outcome.SENT, 250)]
    assert [r.rcpt_tos for r in pipelining_server.received] == [["b@example.vn"]]
