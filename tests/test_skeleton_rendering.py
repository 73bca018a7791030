"""The per-recipient renderer against the standard library's own parser: what a mail client
reads must be exactly what the template said, for Vietnamese text in every part."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from email_validator import EmailNotValidError, validate_email

from dashboard.mail.addresses import AddressError, Mailbox
from dashboard.mail.attachments import AttachmentFile
from dashboard.mail.headers import HeaderInjectionError
from dashboard.mail.recipient_check import check_address
from dashboard.mail.skeleton import MimeSkeleton, Personalised

SENDER = Mailbox("dispatcher@example.com", "Hệ thống Gửi thư")


def parsed(data: bytes):
    assert all(byte < 128 for byte in data), "the wire form must be 7-bit"
    assert b"\n" not in data.replace(b"\r\n", b""), "every line ends in CRLF"
    return BytesParser(policy=policy.default).parsebytes(data)


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("Nguyễn Văn An", "Chào Nguyễn Văn An"),
        ('Trần "Bình", Lê', "Plain ASCII subject with =? inside"),
        ("", "Thư mời hội nghị khách hàng năm 2026 tại Thành phố Hồ Chí Minh, Việt Nam " * 3),
        ("Plain Name", "x" * 90),
    ],
)
def test_headers_decode_to_what_was_rendered(name: str, subject: str) -> None:
    skeleton = MimeSkeleton(SENDER, has_html=False, list_unsubscribe=True)
    data = skeleton.render(
        Personalised(
            Mailbox("an@example.vn", name),
            subject.strip(),
            "x",
            None,
            "<1.2@example.com>",
            "https://mail.example.com/unsubscribe/abc.def",
        )
    )
    email = parsed(data)
    assert email["Subject"] == subject.strip()
    assert email["To"].addresses[0].display_name == name
    assert email["To"].addresses[0].addr_spec == "an@example.vn"
    assert email["From"].addresses[0].display_name == "Hệ thống Gửi thư"
    assert email["Message-ID"] == "<1.2@example.com>"
    assert email["List-Unsubscribe"] == "<https://mail.example.com/unsubscribe/abc.def>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_bodies_and_attachments_round_trip() -> None:
    text = "Kính gửi anh An,\n\n. một dòng bắt đầu bằng dấu chấm\nDòng dài " + "ữ" * 120 + "\n"
    html = "<p>Chào <b>An</b> – hẹn gặp ở Đà Nẵng</p>"  # noqa: RUF001
    pdf = b"%PDF-1.4\n" + bytes(range(256))
    skeleton = MimeSkeleton(
        SENDER,
        has_html=True,
        attachments=[AttachmentFile("báo cáo.pdf", "application/pdf", pdf)],
    )
    email = parsed(
        skeleton.render(
            Personalised(Mailbox("an@example.vn"), "Chào", text, html, "<3@example.com>")
        )
    )
    assert email.get_content_type() == "multipart/mixed"
    assert "List-Unsubscribe" not in email
    assert email.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert email.get_body(("html",)).get_content().strip() == html
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "báo cáo.pdf"
    assert attachment.get_content() == pdf


def test_a_rendered_subject_cannot_add_a_header() -> None:
    skeleton = MimeSkeleton(SENDER, has_html=False)
    with pytest.raises(HeaderInjectionError):
        skeleton.render(
            Personalised(Mailbox("a@example.vn"), "Hi\r\nBcc: x@y.z", "x", None, "<4@example.com>")
        )


SAMPLES = [
    "a@example.com",
    "First.Last+tag@Sub.Example.COM",
    "o'brien@example.ie",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example.c",
    "a@example.123",
    "a@localhost",
    "a@foo.test",
    "a@foo.local",
    "a@xn--80ak6aa92e.com",
    "user@bücher.de",
    "nguyễn@example.vn",
    "a b@example.com",
    '"quoted"@example.com',
    "a@[127.0.0.1]",
    "x" * 65 + "@example.com",
    "a@" + "b" * 64 + ".com",
    "",
    "@example.com",
    "a@",
]


@pytest.mark.parametrize("address", SAMPLES)
def test_fast_address_check_agrees_with_email_validator(address: str) -> None:
    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        expected = valid.ascii_email or valid.normalized
    except EmailNotValidError:
        expected = None
    try:
        got = check_address(address)
    except AddressError:
        got = None
    assert got == expected


@pytest.mark.parametrize("has_html", [False, True])
@pytest.mark.parametrize("attached", [False, True])
@pytest.mark.parametrize("text", ["Một dòng\n", "Không xuống dòng", "Hai dòng trống\n\n\n", "\n"])
def test_the_text_part_is_exactly_the_text_in_every_structure(
    has_html: bool, attached: bool, text: str
) -> None:
    attachments = [AttachmentFile("a.txt", "text/plain", b"x")] if attached else []
    skeleton = MimeSkeleton(SENDER, has_html=has_html, attachments=attachments)
    data = skeleton.render(
        Personalised(
            Mailbox("an@example.vn"), "s", text, "<p>x</p>" if has_html else None, "<1@e.com>"
        )
    )
    body = parsed(data).get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body == (text if text.endswith("\n") else text + "\n")  # a text part ends a line
