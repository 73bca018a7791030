"""A campaign's bounces come home: sent to addresses the SMTP server accepts, bounced later into
a real Dovecot mailbox (read by beat over IMAPS) and to the built-in SMTP receiver, in the
formats Postfix, Exim, Gmail, Microsoft and Yahoo write, plus a spam complaint (ARF). The
messages end `bounced`, their addresses suppressed, and the next campaign skips them.

A dispatcher of the test's own (workers, beat, its own Redis) runs with a bounce domain set,
so every message leaves with its own signed bounce address.
"""

from __future__ import annotations

import imaplib
import os
import secrets
import smtplib
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.mail.verp import MAX_LOCAL_PART
from dashboard.models import DeliveryAttempt, Message, Suppression
from dashboard.ops.bounce_receiver import start_bounce_receiver
from tests.dovecot import Dovecot, running_dovecot, start_dovecot
from tests.fault_stack import FaultStack, own_stacks, signed_in
from tests.smtp_server import ScriptedSMTPServer, free_port

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


def test_bounces_from_the_mailbox_and_the_receiver_suppress_and_the_next_campaign_skips(
    loop: Loop, unique: str
) -> None:
    names = ["postfix", "outlook", "gmail", "complaint", "exim", "yahoo", "soft", "keep"]
    addresses = [f"{name}-{unique}@example.net" for name in names]
    address = dict(zip(names, addresses, strict=True))
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
            ("gmail_mailbox_full.eml", "soft"),
        ):
            smtp.sendmail("", [received[address[name]].mail_from], report(sample_name, name))

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
