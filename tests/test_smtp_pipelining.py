"""Against a server that offers PIPELINING (as Postfix and Gmail do), the end of one message's
data and the next message's MAIL, RCPT and DATA share one write and one round trip; against
one that does not, one command at a time. Either way every outcome is the one the server gave
for that message, and no message is reported sent before the server's reply to its data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard.mail.smtp import (
    DeliveryResult,
    Envelope,
    Outcome,
    SmtpSettings,
    StopSending,
    deliver_batch,
)
from tests.smtp_server import ScriptedSMTPServer

SENDER = "from@example.com"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def server(request: pytest.FixtureRequest) -> Iterator[ScriptedSMTPServer]:
    server = ScriptedSMTPServer()
    server.script.pipelining = request.param
    server.start()
    yield server
    server.stop()


def settings(server: ScriptedSMTPServer) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", server.port, timeout=10)


def message(key: int) -> Envelope:
    data = f"Subject: Thư {key}\r\n\r\nNội dung thư số {key}.\r\n".encode()
    return Envelope(key, SENDER, f"m{key}@example.vn", data)


def outcomes(results: list[DeliveryResult]) -> list[tuple[int, Outcome, int | None]]:
    return [(r.key, r.outcome, r.code) for r in results]


def test_each_message_keeps_its_own_outcome_and_the_bytes_arrive_exactly(
    server: ScriptedSMTPServer,
) -> None:
    dotted = ".một dòng bắt đầu bằng dấu chấm\r\n..và hai\r\n.\r\nhết".encode()
    envelopes = [message(k) for k in range(1, 9)]
    envelopes[0] = Envelope(1, SENDER, "m1@example.vn", dotted)
    # As a batch's builder hands them over: the dots doubled already, not doubled again.
    doubled = "...một\r\n..\r\n....hai dấu\r\n".encode()
    envelopes[7] = Envelope(8, SENDER, "m8@example.vn", doubled, dots_doubled=True)
    script = server.script
    script.rcpt_replies["m2@example.vn"] = "550 5.1.1 No such user"
    script.data_command_replies["m3@example.vn"] = "451 4.3.0 Not now"
    script.final_replies["m4@example.vn"] = "452 4.3.1 Insufficient system storage"
    script.final_replies["m5@example.vn"] = "554 5.7.1 Rejected as spam"
    script.rcpt_replies["m7@example.vn"] = "450 4.2.1 Mailbox busy"

    results = list(deliver_batch(envelopes, settings(server)))

    assert outcomes(results) == [
        (1, Outcome.SENT, 250),
        (2, Outcome.PERMANENT, 550),
        (3, Outcome.TRANSIENT, 451),
        (4, Outcome.TRANSIENT, 452),
        (5, Outcome.PERMANENT, 554),
        (6, Outcome.SENT, 250),
        (7, Outcome.TRANSIENT, 450),
        (8, Outcome.SENT, 250),
    ]
    assert results[1].reply == "5.1.1 No such user"
    assert results[4].reply == "5.7.1 Rejected as spam"
    received = {r.rcpt_tos[0]: r for r in server.received}
    assert sorted(received) == ["m1@example.vn", "m6@example.vn", "m8@example.vn"]
    assert received["m1@example.vn"].raw == dotted + b"\r\n"  # the dots as they were written
    assert received["m6@example.vn"].raw == envelopes[5].data
    assert received["m8@example.vn"].raw == "..một\r\n.\r\n...hai dấu\r\n".encode()
    assert all(r.mail_from == SENDER for r in server.received)
    # One read per round trip, at least: with PIPELINING about one a message; without, four.
    if script.pipelining:
        assert script.reads <= len(envelopes) + 6  # EHLO, the first envelope, RSETs, QUIT
    else:
        assert script.reads >= 4 * len(envelopes)


def test_no_message_is_reported_sent_before_the_servers_reply_to_its_data(
    server: ScriptedSMTPServer,
) -> None:
    taken: list[int] = []

    def source() -> Iterator[Envelope]:
        for key in range(1, 6):
            taken.append(key)
            yield message(key)

    seen = []
    for result in deliver_batch(source(), settings(server)):
        arrived = {int(r.rcpt_tos[0][1:].split("@")[0]) for r in server.received}
        assert result.outcome is Outcome.SENT and result.key in arrived
        seen.append((result.key, list(taken)))
    if server.script.pipelining:  # the next message was taken to share the round trip
        assert seen == [(k, list(range(1, min(k + 1, 5) + 1))) for k in range(1, 6)]
    else:
        assert seen == [(k, list(range(1, k + 1))) for k in range(1, 6)]


def test_the_wait_for_each_reply_is_offered_to_the_caller_after_the_write(
    server: ScriptedSMTPServer,
) -> None:
    """A batch renders its next message while the server answers the last: the call comes
    after each write that needs a reply, before that reply is read."""
    results: list[DeliveryResult] = []
    seen_at_call: list[int] = []

    def while_answering() -> None:
        seen_at_call.append(len(results))

    for result in deliver_batch(
        [message(k) for k in range(1, 6)], settings(server), while_answering=while_answering
    ):
        results.append(result)
    assert [r.outcome for r in results] == [Outcome.SENT] * 5
    if server.script.pipelining:  # the first envelope alone, then each message's data
        assert seen_at_call == [0, 0, 1, 2, 3, 4]
    else:  # after each message's data
        assert seen_at_call == [0, 1, 2, 3, 4]


def test_without_lookahead_each_result_comes_before_the_next_message_is_taken(
    server: ScriptedSMTPServer,
) -> None:
    taken: list[int] = []

    def source() -> Iterator[Envelope]:
        for key in range(1, 4):
            taken.append(key)
            yield message(key)

    seen = [
        (r.key, list(taken)) for r in deliver_batch(source(), settings(server), lookahead=False)
    ]
    assert seen == [(1, [1]), (2, [1, 2]), (3, [1, 2, 3])]
    assert len(server.received) == 3


def test_a_source_that_fails_gets_the_message_in_progress_finished_first(
    server: ScriptedSMTPServer,
) -> None:
    def source() -> Iterator[Envelope]:
        yield message(1)
        yield message(2)
        raise RuntimeError("today's quota is used up")

    results: list[DeliveryResult] = []
    with pytest.raises(RuntimeError, match="quota"):
        results.extend(deliver_batch(source(), settings(server)))
    assert outcomes(results) == [(1, Outcome.SENT, 250), (2, Outcome.SENT, 250)]
    assert [r.rcpt_tos for r in server.received] == [["m1@example.vn"], ["m2@example.vn"]]


def test_a_source_that_stops_sending_abandons_the_message_taken_ahead(
    server: ScriptedSMTPServer,
) -> None:
    """A batch that cannot record an outcome stops: the message whose envelope went ahead of
    its predecessor's reply is never delivered, and has no result."""

    def source() -> Iterator[Envelope]:
        yield message(1)
        yield message(2)
        raise StopSending

    results: list[DeliveryResult] = []
    with pytest.raises(StopSending):
        results.extend(deliver_batch(source(), settings(server)))
    # One command at a time, message 2 is finished before the source is asked for a third.
    delivered = [1] if server.script.pipelining else [1, 2]
    assert [r.key for r in results] == delivered
    assert all(r.outcome is Outcome.SENT for r in results)
    assert [r.rcpt_tos for r in server.received] == [[f"m{k}@example.vn"] for k in delivered]


def test_a_connection_dropped_after_a_reply_keeps_it_and_sends_the_rest_again(
    server: ScriptedSMTPServer,
) -> None:
    server.script.drop_at_mail = 3  # after the 250 for message 2, before answering MAIL of 3
    results = list(deliver_batch([message(k) for k in range(1, 6)], settings(server)))
    assert outcomes(results) == [(k, Outcome.SENT, 250) for k in range(1, 6)]
    assert [r.rcpt_tos[0] for r in server.received] == [f"m{k}@example.vn" for k in range(1, 6)]


def test_a_connection_dropped_before_the_reply_to_data_sends_that_message_again(
    server: ScriptedSMTPServer,
) -> None:
    server.script.drop_every = 2  # every second DATA: the connection closes, nothing is kept
    results = list(deliver_batch([message(k) for k in range(1, 6)], settings(server)))
    assert outcomes(results) == [(k, Outcome.SENT, 250) for k in range(1, 6)]
    assert sorted(r.rcpt_tos[0] for r in server.received) == [
        f"m{k}@example.vn" for k in range(1, 6)
    ]


@pytest.mark.parametrize("kept", [False, True], ids=["dropped", "kept-then-reply-lost"])
def test_a_message_whose_reply_to_data_never_came_is_never_reported_sent(
    server: ScriptedSMTPServer, kept: bool
) -> None:
    """Every connection breaks before the reply to the end of data (the server dropped the
    message, or kept it and lost its 250): each message is tried twice, then is transient."""
    if kept:
        server.script.lose_reply_every = 1
    else:
        server.script.drop_every = 1
    results = list(deliver_batch([message(k) for k in range(1, 4)], settings(server)))
    assert [(r.key, r.outcome) for r in results] == [(k, Outcome.TRANSIENT) for k in (1, 2, 3)]
    assert all(r.code is None and "Disconnected" in r.reply for r in results)
    assert server.script.data_count == 6  # each message's data went twice, no more
    expected = sorted(f"m{k}@example.vn" for k in (1, 2, 3) for _ in range(2)) if kept else []
    assert sorted(r.rcpt_tos[0] for r in server.received) == expected


def test_a_421_closes_the_connection_and_the_next_message_goes_over_a_new_one(
    server: ScriptedSMTPServer,
) -> None:
    server.script.final_replies["m2@example.vn"] = "421 4.3.2 Shutting down"
    results = list(deliver_batch([message(k) for k in range(1, 5)], settings(server)))
    assert outcomes(results) == [
        (1, Outcome.SENT, 250),
        (2, Outcome.TRANSIENT, 421),
        (3, Outcome.SENT, 250),
        (4, Outcome.SENT, 250),
    ]
    assert [r.rcpt_tos[0] for r in server.received] == [f"m{k}@example.vn" for k in (1, 3, 4)]


def test_an_address_with_a_line_break_is_refused_and_never_becomes_a_command(
    server: ScriptedSMTPServer,
) -> None:
    smuggled = Envelope(2, SENDER, "m2@example.vn>\r\nRCPT TO:<x@example.vn", b"Subject: x\r\n\r\n")
    server.script.final_replies["m3@example.vn"] = "421 4.3.2 Shutting down"
    batch = [message(1), smuggled, message(3), smuggled, message(5)]
    results = list(deliver_batch(batch, settings(server)))
    assert outcomes(results) == [
        (1, Outcome.SENT, 250),
        (2, Outcome.PERMANENT, 501),
        (3, Outcome.TRANSIENT, 421),
        (2, Outcome.PERMANENT, 501),  # after a 421 as well
        (5, Outcome.SENT, 250),
    ]
    assert [r.rcpt_tos for r in server.received] == [["m1@example.vn"], ["m5@example.vn"]]
