"""The builder encodes a template's literal text once and each recipient's values as they come
(`mail/quoted_printable.py`, `mail/plain_merge.py`): for random Vietnamese and other Unicode
values (dots and `=` at line starts, spaces before line ends, CR and LF in every combination,
values long enough to cross the 76-character lines), what it makes must be exactly what the
straightforward encoding of the whole rendered message gives: here, the reference, kept only in
this test. The same holds for the bytes as a batch sends them, their lines' leading dots doubled
for SMTP's DATA by the builder (`mail/dot_stuffing.py`): they must be what doubling every such
dot in the whole message gives. Derandomized, with no example database.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import Signer

from dashboard.mail.addresses import Mailbox
from dashboard.mail.attachments import AttachmentFile
from dashboard.mail.header_encoding import encoded_words
from dashboard.mail.merge import compile_merge
from dashboard.mail.quoted_printable import BodyEncoder
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from dashboard.sending.unsubscribe_links import (
    UnsubscribeLinks,
    read_unsubscribe_token,
    unsubscribe_serializer,
)

EXAMPLES = settings(
    max_examples=150,
    deadline=timedelta(seconds=2),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
WORDS = ["Nguyễn", "Văn", "Thành phố", "Hồ Chí Minh", "ưu đãi", "e\u0301\u0323", "👩🏽‍💻", "東京"]
SPECIALS = [".", "=", " ", "\t", "\r", "\n", "\r\n", "\n.", ".\n", " \n", "=\r\n", "%", "%s"]
TEXT = st.lists(st.sampled_from(WORDS + SPECIALS) | st.text(max_size=6), max_size=40).map("".join)
LONG = st.builds(
    lambda word, count: word * count, st.sampled_from([*WORDS, "x", "ữ."]), st.integers(0, 90)
)
VALUE = TEXT | LONG
LITERAL = st.lists(st.sampled_from(WORDS + SPECIALS + ["{{ '{{' }}"]), max_size=30).map("".join)
NAMES = ["name", "city", "email", "unsubscribe_url"]


def reference_qp(text: str) -> bytes:
    """The whole text, encoded in one call, the way the builder did before it encoded once."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    if not normal.endswith(b"\n"):
        normal += b"\n"
    return binascii.b2a_qp(normal, quotetabs=False, istext=True, header=False).replace(
        b"\n", b"\r\n"
    )


def reference_doubled(data: bytes) -> bytes:
    """Every line's leading dot doubled, the way smtplib's `sendmail` does it."""
    return re.sub(rb"(?m)^\.", b"..", data)


@st.composite
def templates(draw: st.DrawFn, plain: bool) -> str:
    """Literal text and placeholders; not plain: with filters and conditions among them."""
    parts = [draw(LITERAL)]
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(NAMES))
        if plain:
            parts.append(
                draw(st.sampled_from(["{{ %s }}", "{{%s}}", "{{- %s }}", "{{ %s -}}"])) % name
            )
        else:
            parts.append(
                draw(
                    st.sampled_from(
                        ["{{ %s }}", "{{ %s|upper }}", "{% if %s %}[{{ %s }}]{% endif %}"]
                    )
                ).replace("%s", name)
            )
        parts.append(draw(LITERAL))
    return "".join(parts)


def recipients(draw: st.DrawFn) -> dict[str, str]:
    return {name: draw(VALUE) for name in NAMES}


@EXAMPLES
@given(st.data(), st.booleans())
def test_bodies_encoded_once_equal_the_whole_text_encoded(data: st.DataObject, plain: bool) -> None:
    template = compile_merge(
        "{{ name }}",
        data.draw(templates(plain)),
        data.draw(templates(plain)),
    )
    encoder = BodyEncoder(template.literals)
    for _ in range(3):  # the same encoder for several recipients, as in a batch
        values = recipients(data.draw)
        content = template.render(values)
        # The same text Jinja renders: the plain fill is only a faster way to it.
        assert content.text == template.text.render(values)
        assert content.html == template.html.render(values)
        text, html = encoder.encode(content.text_pieces, content.html_pieces)
        assert text == reference_qp(content.text)
        assert html == reference_qp(content.html)
        doubled = encoder.encode(content.text_pieces, content.html_pieces, dots_doubled=True)
        assert doubled == [reference_doubled(text), reference_doubled(html)]


@EXAMPLES
@given(st.lists(VALUE, min_size=1, max_size=3), LITERAL)
def test_a_plain_body_and_its_pieces_encode_alike(bodies: list[str], literal: str) -> None:
    # A plain campaign's body is one of the skeleton's literals, and any string is a body of
    # its own; a NUL that ends a line takes the way of one call per run.
    encoder = BodyEncoder([*bodies, literal])
    for more in ([], [literal + "\x00\n" + literal], ["\x00", literal, "a\x00\r\nb"]):
        every = [*bodies, literal, *more]
        assert encoder.encode(*every) == [reference_qp(body) for body in every]
        assert encoder.encode(*every, dots_doubled=True) == [
            reference_doubled(reference_qp(body)) for body in every
        ]


@EXAMPLES
@given(st.data())
def test_the_whole_message_is_the_one_the_whole_text_makes(data: st.DataObject) -> None:
    template = compile_merge(
        "Chào {{ name }} ở {{ city }}", data.draw(templates(True)), data.draw(templates(True))
    )
    values = recipients(data.draw)
    for name in ("name", "city"):  # a header's name: words, single-spaced
        values[name] = " ".join(data.draw(st.lists(st.sampled_from(WORDS), max_size=12)))
    content = template.render(values)
    attachments = data.draw(
        st.sampled_from([[], [AttachmentFile(".hoá đơn.txt", "text/plain", b".\n.")]])
    )
    made = {
        "date": datetime(2026, 12, 5, tzinfo=UTC),
        "boundary_seed": "s",
        "has_html": data.draw(st.booleans()),
        "attachments": attachments,
        "list_unsubscribe": True,
    }
    fast = MimeSkeleton(Mailbox("tin@example.vn", "Tin"), literals=template.literals, **made)
    whole = MimeSkeleton(Mailbox("tin@example.vn", "Tin"), **made)
    recipient = Mailbox("an@example.vn", values["name"])
    link = "https://e.vn/u/" + "x" * data.draw(st.integers(0, 90))
    pieces = Personalised(
        recipient, content.subject, content.text_pieces, content.html_pieces, "<1@e.vn>", link
    )
    strings = Personalised(recipient, content.subject, content.text, content.html, "<1@e.vn>", link)
    assert fast.render(pieces) == whole.render(strings)
    assert fast.render(pieces, dots_doubled=True) == reference_doubled(whole.render(strings))
    if made["has_html"]:
        assert reference_qp(content.html) in whole.render(strings)


def reference_encoded_words(text: str, first_room: int) -> list[str]:
    """Encoded-words cut character by character, as the builder did before it cut the bytes."""
    budget = max(3, min(45, (first_room - 12) // 4 * 3))
    words, chunk, size = [], [], 0
    for char in text:
        width = len(char.encode("utf-8"))
        if chunk and size + width > budget:
            words.append("".join(chunk))
            chunk, size, budget = [], 0, 45
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return [f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words]


@EXAMPLES
@given(
    st.lists(st.sampled_from(WORDS) | st.text(max_size=4), max_size=40).map(" ".join),
    st.integers(1, 90),
)
def test_encoded_words_cut_where_they_were_cut(text: str, first_room: int) -> None:
    assert encoded_words(text, first_room) == reference_encoded_words(text, first_room)


@EXAMPLES
@given(st.from_regex(r"[a-z0-9]{1,20}@[a-z]{1,10}\.vn", fullmatch=True), st.integers(1, 10**9))
def test_unsubscribe_links_are_signed_as_the_signer_signs(address: str, campaign_id: int) -> None:
    secret = "a secret key for the test"
    links = UnsubscribeLinks("https://mail.example.vn/", unsubscribe_serializer(secret))
    url = links.url(address, campaign_id)
    value = base64.urlsafe_b64encode(f"{campaign_id}:{address}".encode()).rstrip(b"=")
    signed = Signer(secret, salt="list-unsubscribe").sign(value).decode()
    assert url == f"https://mail.example.vn/unsubscribe/{signed}"
    token = url.rsplit("/", 1)[1]
    assert read_unsubscribe_token(secret, token) == (address, campaign_id)
    with pytest.raises(ValueError, match="not a valid unsubscribe token"):
        read_unsubscribe_token("another key", token)
