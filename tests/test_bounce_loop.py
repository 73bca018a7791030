"""A campaign's bounces come home: sent to addresses the SMTP server accepts, bounced later into
a real Dovecot mailbox (read by beat over IMAPS) and to the built-in SMTP receiver, in the
formats Postfix, Exim, Gmail, Microsoft and Yahoo write, plus a spam complaint (ARF). The
messages end `bounced`, their addresses suppressed, and the next campaign skips them.

A dispatcher of the test's own (workers, beat, its own Redis) runs with a bounce domain set,
so every message leaves with its own signed bounce address.
"""

from __future__ import annotations

import imaplib
import json
import os
import secrets
import smtplib
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from dashboard.bounces.intake import take_in_report
from dashboard.bounces.mailbox import PollResult, poll_mailbox
from dashboard.bounces.parsing import BounceKind
from dashboard.bounces.recording import record_bounce
from dashboard.bounces.ses import trusted_url
from dashboard.database import DATABASE_AWAY
from dashboard.extensions import db
from dashboard.mail.verp import MAX_LOCAL_PART
from dashboard.models import (
    BounceReceipt,
    CaughtMail,
    DeliveryAttempt,
    Message,
    Suppression,
    utcnow,
)
from dashboard.ops.bounce_receiver import start_bounce_receiver
from dashboard.ops.catcher import run_catcher
from tests.dovecot import Dovecot, running_dovecot, start_dovecot
from tests.fault_stack import FaultStack, own_stacks, signed_in
from tests.smtp_server import Received, ScriptedSMTPServer, free_port
from tests.sns_signer import start_fake_sns
from tests.webhook_receiver import WebhookReceiver

SAMPLES = Path(__file__).resolve().parent / "bounce_samples"
BOUNCE_DOMAIN = "bounces.test"
SENDER = "dispatcher@example.com"
WAIT_SECONDS = 90


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    """The Dovecot `.ci/run` started (TEST_DOVECOT_DIR), or one of this session's own."""
    named = os.environ.get("TEST_DOVECOT_DIR")
    if named:
        yield running_dovecot(Path(named))
        return
    # Not under pytest's owner-only temporary folder: the mail user must reach its mailbox.
    server = start_dovecot(Path(tempfile.mkdtemp(prefix="dovecot-tests-")))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Loop:
    stack: FaultStack
    app: Flask
    client: FlaskClient
    dovecot: Dovecot
    user: str
    password: str
    receiver_port: int

    def imap(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=self.dovecot.ca_file)
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.dovecot.imaps_port, ssl_context=context)
        conn.login(self.user, self.password)
        return conn


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, dovecot: Dovecot) -> Iterator[Loop]:
    user, password = f"bounces-{os.getpid()}-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    dovecot.add_user(user, password)
    bounce_settings = {
        "BOUNCE_DOMAIN": BOUNCE_DOMAIN,
        "BOUNCE_SECRET": "bounce-test-secret",
        "SOFT_BOUNCE_THRESHOLD": "2",
        "BOUNCE_IMAP_HOST": "127.0.0.1",
        "BOUNCE_IMAP_PORT": str(dovecot.imaps_port),
        "BOUNCE_IMAP_MODE": "imaps",
        "BOUNCE_IMAP_USER": user,
        "BOUNCE_IMAP_PASSWORD": password,
        "BOUNCE_IMAP_CA_FILE": dovecot.ca_file,
        "BOUNCE_IMAP_INTERVAL_SECONDS": "1",
        "MAIL_DEFAULT_SENDER": SENDER,
    }
    smtp = ScriptedSMTPServer()
    smtp.start()
    with own_stacks(tmp_path_factory.mktemp("bounce-loop"), "bounces") as make:
        stack = make(smtp, **bounce_settings)
        app = stack.app()
        app.config.update(
            {**bounce_settings, "SOFT_BOUNCE_THRESHOLD": 2, "BOUNCE_IMAP_PORT": dovecot.imaps_port}
        )
        stack.start_worker()
        stack.start_beat()
        port = free_port()
        receiver = start_bounce_receiver(app, "127.0.0.1", port)
        try:
            yield Loop(stack, app, signed_in(app), dovecot, user, password, port)
        finally:
            receiver.stop()


def send_campaign(loop: Loop, addresses: list[str]) -> dict[str, Message]:
    """Submit through the API and wait until every message is final; by address."""
    response = loop.client.post(
        "/api/v1/emails",
        json={"to": addresses, "subject": "Your December offer", "text": "Hello, an offer."},
    )
    assert response.status_code == 202, response.json
    campaign_id = response.json["id"]
    return wait_for(
        loop, lambda rows: all(r.is_final for r in rows) and rows, campaign_id, "a final campaign"
    )


def rows_of(app: Flask, campaign_id: int) -> list[Message]:
    with app.app_context():
        rows = db.session.scalars(
            select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)
        ).all()
        db.session.expunge_all()
        db.session.rollback()
        return list(rows)


def wait_for(loop: Loop, done, campaign_id: int, what: str) -> dict[str, Message]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        rows = rows_of(loop.app, campaign_id)
        if done(rows):
            return {row.to_address: row for row in rows}
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {rows}\n{loop.stack.log_tail()}")
        time.sleep(0.25)


def sample(name: str, *, recipient: str, bounce_to: str, message_id: str) -> bytes:
    raw = (SAMPLES / name).read_bytes()
    for marker, value in (
        (b"__RECIPIENT__", recipient),
        (b"__BOUNCE_TO__", bounce_to),
        (b"__MESSAGE_ID__", message_id.strip("<>")),
        (b"__SENDER__", SENDER),
    ):
        raw = raw.replace(marker, value.encode())
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def sent_and_delayed(loop: Loop, target: str) -> tuple[Message, Received, bytes]:
    """A one-recipient campaign to `target` sent, its row, the mail the server got, and Gmail's
    report that its delivery is delayed (a soft bounce), addressed as that mail's bounces are."""
    [row] = send_campaign(loop, [target]).values()
    [got] = [r for r in loop.stack.smtp.received if r.rcpt_tos == [target]]
    report = sample(
        "gmail_mailbox_full.eml",
        recipient=target,
        bounce_to=got.mail_from,
        message_id=str(got.message["Message-ID"]),
    )
    return row, got, report


def retry_report(raw: bytes, attempt: str) -> bytes:
    """The same server's report of a later attempt at the same message: the same text, under a
    Message-ID of its own (the report's first Message-ID header, not the returned message's)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    at = next(i for i, line in enumerate(lines) if line.lower().startswith(b"message-id:"))
    lines[at] = f"Message-ID: <retry-{attempt}-{secrets.token_hex(6)}@mx.example.net>".encode()
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_bounces_from_the_mailbox_and_the_receiver_suppress_and_the_next_campaign_skips(
    loop: Loop, unique: str
) -> None:
    names = ["postfix", "outlook", "gmail", "complaint", "exim", "yahoo", "soft", "keep"]
    addresses = [f"{name}-{unique}@example.net" for name in names]
    address = dict(zip(names, addresses, strict=True))
    # The sender's application asked to hear of every outcome.
    hooks = WebhookReceiver().start()
    endpoint = loop.client.post(
        "/api/v1/webhooks",
        json={"url": hooks.url, "events": ["sent", "failed", "bounced", "complained"]},
    )
    assert endpoint.status_code == 201, endpoint.json
    hooks.secret = endpoint.json["secret"]
    try:
        _bounces_read_back(loop, address, addresses, hooks)
    finally:
        loop.client.delete(f"/api/v1/webhooks/{endpoint.json['id']}")
        hooks.stop()


def _bounces_read_back(
    loop: Loop, address: dict[str, str], addresses: list[str], hooks: WebhookReceiver
) -> None:
    first = send_campaign(loop, addresses)
    assert {row.status for row in first.values()} == {"sent"}

    # Each message left with its own bounce address, signed, within a local part's 64 octets.
    received = {r.rcpt_tos[0]: r for r in loop.stack.smtp.received if r.rcpt_tos[0] in first}
    senders = {r.mail_from for r in received.values()}
    assert len(senders) == len(addresses)
    for sender in senders:
        local, _, domain = sender.partition("@")
        assert domain == BOUNCE_DOMAIN and local.startswith("bounces+")
        assert len(local) <= MAX_LOCAL_PART
    # What the recipient got says nothing of it: From is still the sender's.
    assert received[address["keep"]].message["From"] == SENDER

    def report(sample_name: str, name: str, *, to_sender: bool = False) -> bytes:
        got = received[address[name]]
        return sample(
            sample_name,
            recipient=address[name],
            bounce_to=SENDER if to_sender else got.mail_from,
            message_id=str(got.message["Message-ID"]),
        )

    # Into the Dovecot mailbox, as the recipients' servers would have bounced them. Gmail's
    # goes to the sender's own address (Gmail rewrites the envelope sender): no bounce
    # address in it, matched by the returned Message-ID.
    with loop.imap() as imap:
        for sample_name, name, to_sender in (
            ("postfix.eml", "postfix", False),
            ("outlook.eml", "outlook", False),
            ("gmail.eml", "gmail", True),
            ("arf_complaint.eml", "complaint", False),
        ):
            status, _ = imap.append(
                "INBOX", None, None, report(sample_name, name, to_sender=to_sender)
            )
            assert status == "OK"

    # To the built-in receiver, as an MX for the bounce domain gets them.
    with smtplib.SMTP("127.0.0.1", loop.receiver_port, timeout=10) as smtp:
        for sample_name, name in (
            ("exim.eml", "exim"),
            ("yahoo.eml", "yahoo"),
            ("gmail_mailbox_full.eml", "soft"),
        ):
            smtp.sendmail("", [received[address[name]].mail_from], report(sample_name, name))
        # The next attempt's delay report: another report, so another soft bounce.
        later = retry_report(report("gmail_mailbox_full.eml", "soft"), "2")
        smtp.sendmail("", [received[address["soft"]].mail_from], later)

    campaign_id = first[address["keep"]].campaign_id
    hard = ["postfix", "outlook", "gmail", "exim", "yahoo"]

    def all_recorded(rows: list[Message]) -> bool:
        by = {row.to_address: row for row in rows}
        return (
            all(by[address[n]].status == "bounced" for n in hard)
            and by[address["complaint"]].complained_at is not None
            and by[address["soft"]].soft_bounces == 2
        )

    after = wait_for(loop, all_recorded, campaign_id, "the bounces to be recorded")
    answer = loop.client.get(f"/api/v1/campaigns/{campaign_id}")
    assert answer.json["bounces"] == {"bounced": 5, "soft_bounces": 2, "complaints": 1}
    assert after[address["keep"]].status == "sent"
    assert after[address["complaint"]].status == "sent"  # delivered; complained about
    assert after[address["postfix"]].last_code == 550
    assert "5.1.1" in after[address["postfix"]].last_reply
    assert "RecipientNotFound" in after[address["outlook"]].last_reply

    with loop.app.app_context():
        suppressed = {
            address: (reason, message_id)
            for address, reason, message_id in db.session.execute(
                select(Suppression.address, Suppression.reason, Suppression.message_id)
            )
        }
        attempts = db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == after[address["postfix"]].id)
            .order_by(DeliveryAttempt.id)
        ).all()
        attempt_log = [(a.outcome, a.smtp_code, a.smtp_reply, a.worker) for a in attempts]
        db.session.rollback()
    for name in [*hard, "soft"]:
        assert suppressed[address[name]] == ("bounced", after[address[name]].id)
    assert suppressed[address["complaint"]] == ("complained", after[address["complaint"]].id)
    assert address["keep"] not in suppressed
    assert [(o, c) for o, c, _, _ in attempt_log] == [("sent", 250), ("bounced", 550)]
    assert "User unknown" in attempt_log[1][2] and attempt_log[1][3] == "bounce via imap"

    # The mailbox's reports were each read once: none is left unseen.
    with loop.imap() as imap:
        imap.select("INBOX")
        status, data = imap.search(None, "UNSEEN")
        assert status == "OK" and data == [b""]
        status, data = imap.search(None, "ALL")
        assert len(data[0].split()) == 4

    # Each outcome reached the sender's webhook once, signed, in order per message.
    expected = {
        **{address[n]: ["message.sent", "message.bounced"] for n in hard},
        address["soft"]: ["message.sent", "message.bounced", "message.bounced"],
        address["complaint"]: ["message.sent", "message.complained"],
        address["keep"]: ["message.sent"],
    }

    def events_by_address() -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}
        for event in hooks.of_campaign(campaign_id):
            got.setdefault(event.data["to"], []).append(event.type)
        return got

    deadline = time.monotonic() + WAIT_SECONDS
    while events_by_address() != expected and time.monotonic() < deadline:
        time.sleep(0.25)
    assert events_by_address() == expected
    assert hooks.rejected == []
    events = hooks.of_campaign(campaign_id)
    assert len({event.webhook_id for event in events}) == len(events)
    soft = [e.data for e in events if e.data["to"] == address["soft"] and e.type != "message.sent"]
    assert [data["bounce"] for data in soft] == ["soft", "soft"]
    hard_event = next(
        e.data for e in events if e.data["to"] == address["postfix"] and e.type != "message.sent"
    )
    assert hard_event["bounce"] == "hard" and hard_event["smtp_code"] == 550
    assert hard_event["message_id"] == after[address["postfix"]].id

    # The next campaign to the same list skips every suppressed address.
    before = len(loop.stack.smtp.received)
    second = send_campaign(loop, addresses)
    assert second[address["keep"]].status == "sent"
    for name in [*hard, "complaint", "soft"]:
        assert second[address[name]].status == "failed"
        assert "suppression list" in second[address[name]].last_reply
    assert [r.rcpt_tos for r in loop.stack.smtp.received[before:]] == [[address["keep"]]]


def test_a_forged_or_foreign_bounce_changes_nothing(loop: Loop, unique: str) -> None:
    target = f"target-{unique}@example.net"
    [row] = send_campaign(loop, [target]).values()
    [got] = [r for r in loop.stack.smtp.received if r.rcpt_tos == [target]]
    token_id = got.mail_from.partition("+")[2].partition("-")[0]
    forged = f"bounces+{token_id}-{'a' * 16}@{BOUNCE_DOMAIN}"
    raw = sample("postfix.eml", recipient=target, bounce_to=forged, message_id="<made@up>")
    with smtplib.SMTP("127.0.0.1", loop.receiver_port, timeout=10) as smtp:
        smtp.sendmail("", [forged], raw)  # accepted, read, and found to name no message
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("", [target], raw)  # not a relay: the bounce domain only
        assert refused.value.recipients[target][0] == 550
    with loop.app.app_context():
        message = db.session.get(Message, row.id)
        assert (message.status, message.soft_bounces) == ("sent", 0)
        assert (
            db.session.scalar(select(Suppression.id).where(Suppression.address == target)) is None
        )
        db.session.rollback()


def soft_bounce_state(app: Flask, message_id: int) -> tuple[int, bool, int]:
    """A message's soft bounces, whether its address is suppressed, and its reports recorded."""
    with app.app_context():
        message = db.session.get(Message, message_id)
        suppressed = select(Suppression.id).where(Suppression.address == message.to_address)
        receipts = select(func.count()).where(BounceReceipt.message_id == message_id)
        state = (
            message.soft_bounces,
            db.session.scalar(suppressed) is not None,
            db.session.scalar(receipts),
        )
        db.session.rollback()
    return state


def wait_mailbox_read(loop: Loop) -> None:
    """Until beat has read (and flagged) every message of the mailbox."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with loop.imap() as imap:
            imap.select("INBOX")
            status, data = imap.search(None, "UNSEEN")
        if status == "OK" and data == [b""]:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the mailbox was not read: {data}\n{loop.stack.log_tail()}")
        time.sleep(0.25)


def test_a_report_read_twice_counts_once_and_a_later_attempts_report_counts(
    loop: Loop, unique: str
) -> None:
    """Two soft bounces suppress an address here. One delay report that arrives by the built-in
    receiver and in the mailbox too, then is read again from the mailbox (as after a crash
    before it was flagged), is one soft bounce; the report of a later attempt is the second."""
    target = f"twice-{unique}@example.net"
    row, got, delayed = sent_and_delayed(loop, target)
    with smtplib.SMTP("127.0.0.1", loop.receiver_port, timeout=10) as smtp:
        smtp.sendmail("", [got.mail_from], delayed)
    assert soft_bounce_state(loop.app, row.id) == (1, False, 1)

    # The same report, delivered to the mailbox as well (with the trace its servers add).
    copy = b"Delivered-To: " + loop.user.encode() + b"@example.net\r\n" + delayed
    with loop.imap() as imap:
        assert imap.append("INBOX", None, None, copy)[0] == "OK"
    wait_mailbox_read(loop)
    assert soft_bounce_state(loop.app, row.id) == (1, False, 1)

    # Read again: flagged unseen once more, as a poll that crashed before flagging leaves it.
    with loop.imap() as imap:
        imap.select("INBOX")
        status, data = imap.search(None, "HEADER", "Delivered-To", loop.user)
        assert status == "OK" and data[0]
        assert imap.store(data[0].replace(b" ", b","), "-FLAGS", r"(\Seen)")[0] == "OK"
    wait_mailbox_read(loop)
    assert soft_bounce_state(loop.app, row.id) == (1, False, 1)

    # The next attempt's report is another soft bounce: the second, and the address goes.
    with smtplib.SMTP("127.0.0.1", loop.receiver_port, timeout=10) as smtp:
        smtp.sendmail("", [got.mail_from], retry_report(delayed, "2"))
    assert soft_bounce_state(loop.app, row.id) == (2, True, 2)


def test_a_report_without_its_own_message_id_counts_once_by_both_routes(
    loop: Loop, unique: str
) -> None:
    """Known by its Date and body then, which the servers on either route leave alone: the copy
    in the mailbox, with the trace headers its delivery added, is the same report; the server's
    report of a later attempt (another Date, another last attempt) is another soft bounce."""
    target = f"no-id-{unique}@example.net"
    row, got, with_id = sent_and_delayed(loop, target)
    head, _, body = with_id.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    head = b"\r\n".join(line for line in lines if not line.lower().startswith(b"message-id:"))
    delayed = head + b"\r\n\r\n" + body
    with smtplib.SMTP("127.0.0.1", loop.receiver_port, timeout=10) as smtp:
        smtp.sendmail("", [got.mail_from], delayed)
    assert soft_bounce_state(loop.app, row.id) == (1, False, 1)

    copy = (
        b"Delivered-To: " + loop.user.encode() + b"@example.net\r\n"
        b"Received: from mx.example.net by imap.example.net; Fri, 04 Dec 2026 23:40:09 +0000\r\n"
        + delayed
    )
    with loop.imap() as imap:
        assert imap.append("INBOX", None, None, copy)[0] == "OK"
    wait_mailbox_read(loop)
    assert soft_bounce_state(loop.app, row.id) == (1, False, 1)

    later = delayed.replace(b"15:40:05", b"17:10:42")  # its Date and Last-Attempt-Date
    assert later.count(b"17:10:42") == 2
    with smtplib.SMTP("127.0.0.1", loop.receiver_port, timeout=10) as smtp:
        smtp.sendmail("", [got.mail_from], later)
    assert soft_bounce_state(loop.app, row.id) == (2, True, 2)


def read_at_once(loop: Loop, report: bytes, readers: int) -> list[object]:
    """What each of `readers` threads got from reading `report` at the same moment: the outcome,
    or the database's error (a loser may be told to try again later)."""
    start = threading.Barrier(readers)
    outcomes: list[object] = []

    def read() -> None:
        with loop.app.app_context():
            start.wait(10)
            try:
                outcomes.append(take_in_report(report, loop.app.config, source="race"))
            except DATABASE_AWAY as error:
                outcomes.append(error)

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_two_readers_of_one_report_at_the_same_moment_count_it_once(
    loop: Loop, unique: str
) -> None:
    target = f"race-{unique}@example.net"
    row, _, raw = sent_and_delayed(loop, target)
    for attempt in range(3):  # three different reports, each read by two readers at once
        report = retry_report(raw, f"race{attempt}")
        outcomes = read_at_once(loop, report, readers=2)
        recorded = [o for o in outcomes if getattr(o, "recorded", False)]
        assert len(outcomes) == 2 and len(recorded) == 1, outcomes
        # Whoever lost, reading it again later changes nothing.
        with loop.app.app_context():
            assert not take_in_report(report, loop.app.config, source="race").recorded
    # The threshold (2) was crossed by the second report, not by a reader counting twice.
    assert soft_bounce_state(loop.app, row.id) == (3, True, 3)


@pytest.mark.parametrize("mode", ["starttls", "plain", "imaps"])
def test_the_mailbox_is_read_once_in_each_mode_and_a_reply_is_left_alone(
    dovecot: Dovecot, mode: str
) -> None:
    user, password = f"modes-{mode}-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    dovecot.add_user(user, password)
    config = {
        "BOUNCE_IMAP_HOST": "127.0.0.1",
        "BOUNCE_IMAP_PORT": dovecot.imaps_port if mode == "imaps" else dovecot.imap_port,
        "BOUNCE_IMAP_MODE": mode,
        "BOUNCE_IMAP_USER": user,
        "BOUNCE_IMAP_PASSWORD": password,
        "BOUNCE_IMAP_CA_FILE": dovecot.ca_file,
        "BOUNCE_IMAP_FOLDER": "INBOX",
        "BOUNCE_IMAP_DONE_FOLDER": "Read bounces" if mode == "starttls" else "",
    }
    context = ssl.create_default_context(cafile=dovecot.ca_file)
    with imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=context) as imap:
        imap.login(user, password)
        imap.create('"Read bounces"')
        reply = b"From: someone@example.net\r\nSubject: Re: offer\r\n\r\nNo thanks.\r\n"
        assert imap.append("INBOX", None, None, reply)[0] == "OK"
    # A person's reply is not a report: read, left for a person, never read again.
    assert poll_mailbox(config) == PollResult(read=1, recorded=0, ignored=1)
    assert poll_mailbox(config) == PollResult()
    with imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=context) as imap:
        imap.login(user, password)
        imap.select("INBOX")
        left = imap.search(None, "ALL")[1][0].split()
        imap.select('"Read bounces"')
        moved = imap.search(None, "SEEN")[1][0].split()
    assert (len(left), len(moved)) == ((0, 1) if mode == "starttls" else (1, 0))

    with pytest.raises(imaplib.IMAP4.error):
        poll_mailbox({**config, "BOUNCE_IMAP_PASSWORD": "wrong"})
    if mode != "plain":  # a certificate nobody vouched for is refused
        with pytest.raises(ssl.SSLCertVerificationError):
            poll_mailbox({**config, "BOUNCE_IMAP_CA_FILE": ""})


def test_ses_notifications_through_sns_are_checked_then_recorded(loop: Loop, unique: str) -> None:
    sns = start_fake_sns()
    loop.app.config.update(SES_SNS_ENABLED=True, SNS_TRUSTED_CERT_HOST=sns.host)
    try:
        bounced, complained = f"ses-b-{unique}@example.net", f"ses-c-{unique}@example.net"
        delayed = f"ses-s-{unique}@example.net"
        rows = send_campaign(loop, [bounced, complained, delayed])
        got = {r.rcpt_tos[0]: r for r in loop.stack.smtp.received if r.rcpt_tos[0] in rows}
        topic = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
        base = {"MessageId": "0d1e2f", "TopicArn": topic, "Timestamp": "2026-12-04T23:30:00Z"}

        confirm = {
            **base,
            "Type": "SubscriptionConfirmation",
            "Token": "2336412f37",
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": f"http://{sns.host}/confirm?Token=2336412f37",
        }
        answer = loop.client.post("/bounces/ses", data=sns.sign(confirm, "2"))
        assert (answer.status_code, answer.json["outcome"]) == (200, "confirmed")
        assert "/confirm?Token=2336412f37" in sns.hits

        bounce = {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": bounced,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                ],
            },
            "mail": {"source": got[bounced].mail_from, "commonHeaders": {"messageId": "<x@y>"}},
        }
        notification = {**base, "Type": "Notification", "Message": json.dumps(bounce)}
        signed = sns.sign(notification, "1")
        # Changed after signing: refused, and nothing is recorded.
        forged = json.loads(signed)
        forged["Message"] = forged["Message"].replace("Permanent", "Transient")
        answer = loop.client.post("/bounces/ses", data=json.dumps(forged))
        assert answer.status_code == 400 and "signature" in answer.json["error"]
        elsewhere = {**notification, "SigningCertURL": "http://203.0.113.9/cert.pem"}
        answer = loop.client.post("/bounces/ses", data=json.dumps(elsewhere))
        assert answer.status_code == 400

        answer = loop.client.post("/bounces/ses", data=signed)
        assert (answer.status_code, answer.json["outcome"]) == (200, "recorded")

        complaint = {
            "notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": complained}]},
            # Sent through an account that rewrote the sender: matched by its Message-ID.
            "mail": {
                "source": SENDER,
                "commonHeaders": {"messageId": str(got[complained].message["Message-ID"])},
            },
        }
        notification = {**base, "Type": "Notification", "Message": json.dumps(complaint)}
        answer = loop.client.post("/bounces/ses", data=sns.sign(notification, "2"))
        assert (answer.status_code, answer.json["outcome"]) == (200, "recorded")

        # SNS delivers a notification again (same MessageId): a soft bounce counted once.
        transient = {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Transient",
                "bounceSubType": "MailboxFull",
                "feedbackId": f"0100019393-{unique}",
                "bouncedRecipients": [{"emailAddress": delayed, "status": "4.2.2"}],
            },
            "mail": {"source": got[delayed].mail_from, "commonHeaders": {"messageId": "<x@y>"}},
        }
        notification = {
            **base,
            "MessageId": f"sns-{unique}",
            "Type": "Notification",
            "Message": json.dumps(transient),
        }
        outcomes = [
            loop.client.post("/bounces/ses", data=sns.sign(notification, "2")).json["outcome"]
            for _ in range(2)
        ]
        assert outcomes == ["recorded", "ignored"]

        after = rows_of(loop.app, rows[bounced].campaign_id)
        by = {row.to_address: row for row in after}
        assert by[bounced].status == "bounced" and "5.1.1 user unknown" in by[bounced].last_reply
        assert by[complained].complained_at is not None
        assert by[delayed].soft_bounces == 1
    finally:
        loop.app.config.update(SES_SNS_ENABLED=False, SNS_TRUSTED_CERT_HOST="")
        sns.stop()


def test_only_amazons_sns_hosts_over_https_are_trusted_in_production() -> None:
    config: dict[str, str] = {"SNS_TRUSTED_CERT_HOST": ""}
    assert trusted_url(
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem", config
    )
    for url in (
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem",
        "https://sns.eu-west-1.amazonaws.com.example.net/a.pem",
        "https://example.net/sns.eu-west-1.amazonaws.com/a.pem",
        "https://s3.amazonaws.com/a.pem",
        "http://127.0.0.1:8000/a.pem",
    ):
        assert not trusted_url(url, config), url


def test_a_campaign_still_sending_pauses_when_too_many_of_its_messages_bounce(
    loop: Loop, unique: str
) -> None:
    addresses = [f"rate-{i}-{unique}@example.net" for i in range(4)]
    response = loop.client.post(
        "/api/v1/emails",
        json={
            "to": addresses,
            "subject": "Later",
            "text": "Hello.",
            "send_at": (utcnow() + timedelta(days=30)).isoformat(timespec="seconds") + "Z",
        },
    )
    assert response.status_code == 202, response.json
    campaign_id = response.json["id"]
    with loop.app.app_context():
        # Arranged: three of its messages went out (and are sent); the fourth still waits.
        ids = [row.id for row in rows_of(loop.app, campaign_id)]
        db.session.execute(
            update(Message)
            .where(Message.id.in_(ids[:3]))
            .values(status="sent", sent_at=utcnow(), next_attempt_at=None)
        )
        db.session.commit()
        loop.app.config.update(BOUNCE_PAUSE_PERCENT=50.0, BOUNCE_PAUSE_MIN_SENT=3)
        try:
            first = record_bounce(ids[0], BounceKind.HARD, status="5.1.1", code=550, diagnostic="x")
            assert first.recorded and not first.paused_campaign  # 1 of 3: under half
            second = record_bounce(ids[1], BounceKind.HARD, status="5.1.1", code=550)
            assert second.paused_campaign  # 2 of 3 delivered messages bounced
            again = record_bounce(ids[1], BounceKind.HARD, status="5.1.1", code=550)
            assert not again.recorded  # the same bounce twice changes nothing
        finally:
            loop.app.config.update(BOUNCE_PAUSE_PERCENT=10.0, BOUNCE_PAUSE_MIN_SENT=50)
        db.session.rollback()
    page = loop.client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "2 of 3 delivered messages bounced" in page
    assert "2 bounced, 0 soft bounces, 0 complaints" in page
    # The API counts them as the page does.
    answer = loop.client.get(f"/api/v1/campaigns/{campaign_id}")
    assert answer.json["bounces"] == {"bounced": 2, "soft_bounces": 0, "complaints": 0}


def test_the_local_catcher_hands_bounces_home_and_catches_the_rest(loop: Loop, unique: str) -> None:
    target = f"catcher-{unique}@example.net"
    [row] = send_campaign(loop, [target]).values()
    [got] = [r for r in loop.stack.smtp.received if r.rcpt_tos == [target]]
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=run_catcher, args=(loop.app, "127.0.0.1", port, stop))
    thread.start()
    try:
        raw = sample(
            "exim.eml",
            recipient=target,
            bounce_to=got.mail_from,
            message_id=str(got.message["Message-ID"]),
        )
        deadline = time.monotonic() + 10
        while True:  # the catcher's thread starts listening in a moment
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with smtp:
            smtp.sendmail("", [got.mail_from], raw)
    finally:
        stop.set()
        thread.join(timeout=10)
    with loop.app.app_context():
        message = db.session.get(Message, row.id)
        assert (message.status, message.last_code) == ("bounced", 550)
        caught = db.session.scalar(select(func.count()).select_from(CaughtMail))
        assert caught == 0  # a bounce coming home is not mail to catch
        db.session.rollback()
