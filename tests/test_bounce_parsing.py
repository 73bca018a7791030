"""Bounce addresses sign the message they name, and each system's report reads back as the
kind, status and diagnostic it carries (samples in tests/bounce_samples/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.bounces.parsing import BounceKind, parse_report
from dashboard.mail.verp import (
    MAX_LOCAL_PART,
    message_ids_in,
    read_token,
    verp_address,
    verp_key,
    verp_token,
)

SAMPLES = Path(__file__).resolve().parent / "bounce_samples"
KEY = verp_key("a secret")


def filled(name: str) -> bytes:
    raw = (SAMPLES / name).read_bytes()
    for marker, value in (
        (b"__RECIPIENT__", b"Gone.User@example.net"),
        (b"__BOUNCE_TO__", verp_address(7, "bounces", "bounce.example.com", KEY).encode()),
        (b"__MESSAGE_ID__", b"173.42.1@example.com"),
        (b"__SENDER__", b"shop@example.com"),
    ):
        raw = raw.replace(marker, value)
    return raw


def test_a_bounce_address_names_its_message_and_cannot_be_made_up() -> None:
    biggest = 2**63 - 1
    address = verp_address(biggest, "bounces", "bounce.example.com", KEY)
    local = address.partition("@")[0]
    assert len(local) <= MAX_LOCAL_PART and local == local.lower()
    token = local.partition("+")[2]
    assert read_token(token, KEY) == biggest
    assert read_token(token.upper(), KEY) == biggest  # a server that changes the case
    assert read_token(token, verp_key("another secret")) is None
    ident, _, signature = token.partition("-")
    assert read_token(f"{ident}-{signature[::-1]}", KEY) is None
    assert read_token(f"{verp_token(8, KEY).partition('-')[0]}-{signature}", KEY) is None
    assert read_token("", KEY) is None and read_token("zz", KEY) is None
    raw = f"To: {address}\r\nX: bounces+1-aaaaaaaaaaaaaaaa@bounce.example.com\r\n".encode()
    assert message_ids_in(raw, "bounces", "bounce.example.com", KEY) == [biggest]


@pytest.mark.parametrize(
    ("name", "kind", "status", "code", "diagnostic"),
    [
        ("postfix.eml", BounceKind.HARD, "5.1.1", 550, "User unknown in virtual mailbox table"),
        ("exim.eml", BounceKind.HARD, "5.0.0", 550, "550 No such user here"),
        ("gmail.eml", BounceKind.HARD, "5.1.1", 550, "tried to reach does not exist"),
        ("gmail_mailbox_full.eml", BounceKind.SOFT, "4.2.2", 452, "out of storage space"),
        ("outlook.eml", BounceKind.HARD, "5.1.10", 550, "RESOLVER.ADR.RecipientNotFound"),
        ("yahoo.eml", BounceKind.HARD, "5.0.0", 554, "doesn't have a yahoo.com account"),
        ("arf_complaint.eml", BounceKind.COMPLAINT, "", None, "complaint (abuse)"),
    ],
)
def test_each_systems_report_reads_back(
    name: str, kind: BounceKind, status: str, code: int | None, diagnostic: str
) -> None:
    report = parse_report(filled(name))
    assert report is not None
    assert (report.kind, report.status, report.code) == (kind, status, code)
    assert report.recipients == ["gone.user@example.net"]
    assert diagnostic in report.reply
    assert report.original_message_id == "173.42.1@example.com"
    ids = message_ids_in(filled(name), "bounces", "bounce.example.com", KEY)
    assert ids == [7]


def test_a_reply_from_a_person_is_not_a_bounce() -> None:
    raw = (
        b"From: Someone <someone@example.net>\r\nTo: shop@example.com\r\n"
        b"Subject: Re: Your December offer\r\n\r\nThanks, but no thanks. 550 reasons.\r\n"
    )
    assert parse_report(raw) is None


@st.composite
def damaged_reports(draw: st.DrawFn) -> bytes:
    """A real system's report cut, spliced or with bytes changed, as mail can arrive."""
    raw = bytearray(filled(draw(st.sampled_from(sorted(p.name for p in SAMPLES.glob("*.eml"))))))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(raw)))
        edit = draw(st.sampled_from(["cut", "byte", "insert", "drop"]))
        if edit == "cut":
            raw = raw[:at]
        elif edit == "byte" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            raw[at:at] = draw(st.sampled_from([b"\r\n", b"--", b"\x00", b"Status: 5.1.1\r\n"]))
        else:
            del raw[at : at + draw(st.integers(1, 300))]
    return bytes(raw)


@settings(max_examples=200, deadline=None, database=None)
@given(damaged_reports() | st.binary(max_size=500))
def test_a_damaged_or_empty_message_is_a_report_or_none_never_an_error(raw: bytes) -> None:
    """An exception here is a 451 to the sending server (retried for days) or an IMAP message
    left unseen and read again at every poll; an empty message tripped a bounce detector."""
    report = parse_report(raw)
    assert report is None or report.kind in set(BounceKind)


def test_an_empty_message_is_not_a_report() -> None:
    assert parse_report(b"") is None
