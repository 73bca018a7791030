"""The one builder against the standard library's parser, over thousands of generated subjects
and names: what a mail client reads back is exactly what was given, at every fold point, and no
header line passes 78 characters (where a fold can be made) or 998 (ever). No Flask, no server."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from dashboard.mail.addresses import Mailbox, plain_display_name
from dashboard.mail.header_encoding import (
    FOLD_AT,
    LINE_LIMIT,
    HeaderTooLongError,
    encoded_words,
    mailbox_header,
    subject_header,
)
from dashboard.mail.headers import MAX_HEADER_CHARS, HeaderInjectionError
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from tests.unicode_corpus import corpus, text_of_length

SENDER = Mailbox("dispatcher@example.com", "Hệ thống Gửi thư")
ISSUE_SUBJECT = "Thông báo: hoá đơn tháng 12 — đã sẵn sàng ✓"


def header_lines(data: bytes, name: str) -> list[bytes]:
    """The physical lines of header `name` (its first line and its continuation lines)."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(head) if line.startswith(name.encode() + b":"))
    end = start + 1
    while end < len(head) and head[end][:1] in (b" ", b"\t"):
        end += 1
    return head[start:end]


def mailbox_line_estimate(name: str) -> str:
    """The To line a name's side-by-side encoded-words would make."""
    return "To: " + "".join(encoded_words(plain_display_name(name))) + " <an@example.vn>"


def assert_folded(data: bytes) -> None:
    """Subject and To lines within 78, but for a name's side-by-side encoded-words, which are
    never folded (see `mailbox_header`)."""
    for field in ("Subject", "To"):
        lines = header_lines(data, field)
        assert all(len(line) <= FOLD_AT or b"?==?" in line for line in lines), (field, lines)


def render(subject: str, name: str, address: str = "an@example.vn") -> bytes:
    return MimeSkeleton(SENDER, has_html=False).render(
        Personalised(Mailbox(address, name), subject, "x", None, "<1.2@example.com>")
    )


def parse(data: bytes):
    assert all(byte < 128 for byte in data), "the wire form must be 7-bit"
    return BytesParser(policy=policy.default).parsebytes(data)


def test_the_issues_subject_keeps_its_space_at_the_fold() -> None:
    for padding in range(0, 40):
        subject = "x" * padding + " " + ISSUE_SUBJECT
        assert parse(render(subject, ""))["Subject"] == subject


def test_thousands_of_subjects_and_names_read_back_exactly() -> None:
    subjects = corpus(3000, seed=1)
    names = corpus(3000, seed=2, long=False)
    checked = refused = 0
    for subject, name in zip(subjects, names, strict=True):
        if len(subject) > MAX_HEADER_CHARS:
            with pytest.raises(HeaderInjectionError, match="subject"):
                render(subject, name)
        data = render(subject, name)
        email = parse(data)
        assert email["Subject"] == subject, (subject, header_lines(data, "Subject"))
        [mailbox] = email["To"].addresses
        # A name is a phrase: single-spaced, as it is stored at submission.
        assert mailbox.display_name == plain_display_name(name), name
        assert mailbox.addr_spec == "an@example.vn"
        assert email["From"].addresses[0].display_name == SENDER.name
        assert all(len(line) <= LINE_LIMIT for line in data.split(b"\r\n"))
        assert_folded(data)
        checked += 1
    assert checked > 2900 and refused < 30


def test_a_value_past_the_limit_is_refused_naming_the_field() -> None:
    with pytest.raises(HeaderInjectionError, match="subject"):
        subject_header("ữ" * (MAX_HEADER_CHARS + 1))
    with pytest.raises(HeaderInjectionError, match="to name"):
        mailbox_header("To", Mailbox("an@example.vn", "ữ" * (MAX_HEADER_CHARS + 1)))
    with pytest.raises(HeaderInjectionError, match="to name"):
        mailbox_header("To", Mailbox("an@example.vn", "An\r\nBcc: x@example.com"))
    with pytest.raises(HeaderTooLongError, match="to name"):
        mailbox_header("To", Mailbox("an@example.vn", "👨\u200d👩\u200d👧\u200d👦" * 40))


@pytest.mark.parametrize(
    "text",
    [
        " leading space",
        "trailing space ",
        "two  spaces",
        "tab\there",
        "\t",
        " ",
        "x" * 200,  # one ASCII word longer than any line
        "a " * 499,
        'Smith, John "Jr." \\ O\'Brien',
        "=?utf-8?b?SGk=?=",
        ISSUE_SUBJECT,
        "👨\u200d👩\u200d👧\u200d👦" * 10,
    ],
)
def test_whitespace_and_specials_survive_in_both_headers(text: str) -> None:
    data = render(text, text)
    email = parse(data)
    assert email["Subject"] == text
    assert email["To"].addresses[0].display_name == plain_display_name(text)
    assert_folded(data)


def test_text_at_every_length_to_two_hundred() -> None:
    import random

    rng = random.Random(3)
    for length in range(1, 201):
        for _ in range(3):
            text = text_of_length(rng, length)
            email = parse(render(text, text))
            assert email["Subject"] == text
            assert email["To"].addresses[0].display_name == plain_display_name(text)
