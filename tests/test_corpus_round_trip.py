"""Hundreds of generated subjects and names sent through the API, the compose form and a CSV
campaign by the real workers to the real SMTP server: what arrived, parsed by the standard
library, says exactly what was submitted, and no header line passes 998 octets (or 78 where the
builder folds).

Submission keeps a subject without the whitespace at its ends and a typed name single-spaced
(`tests/unicode_corpus.trimmed`, `mail/addresses.plain_display_name`); everything else, runs of
spaces and tabs inside a subject included, must arrive as given. A CSV cell merged into the
subject is a value, not a template, and keeps even its end spaces.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from dashboard.mail.addresses import plain_display_name
from dashboard.mail.headers import has_bidi_control
from dashboard.sending.envelopes import envelope_for
from tests.conftest import wait_for_final
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.smtp_server import Received, ScriptedSMTPServer
from tests.test_send_end_to_end import csrf_token
from tests.unicode_corpus import corpus, trimmed

NAME_LENGTH = 120  # a name's encoded-words always fit one 998-octet line at this length


def names(count: int, seed: int) -> list[str]:
    normal = [plain_display_name(name) for name in corpus(count * 2, seed=seed, long=False)]
    # A name with a bidi control is refused by design (test_bounded_work); subjects keep them.
    return [
        name for name in normal if name and len(name) <= NAME_LENGTH and not has_bidi_control(name)
    ][:count]


def quoted(name: str, address: str) -> str:
    """`"name" <address>` as a person (or a client library) types it."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{address}>'


def check_lines(received: Received) -> None:
    lines = received.raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    head = received.raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b"\r\n\0").split(b"\r\n")
    for line in head:
        if line.startswith((b"Subject:", b"To:")):
            for physical in line.split(b"\0"):
                # A name's side-by-side encoded-words are the one thing never folded.
                assert len(physical) <= 78 or b"?==?" in physical, line


def without_date(data: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\n", data, count=1)


def assert_pages_show_what_was_sent(app: Flask, client: FlaskClient, message, raw: bytes) -> None:
    """The History detail rebuilds the message with the workers' code: the same bytes, but for
    the Date (when it was built), and it shows the subject as it arrived."""
    with app.app_context():
        rebuilt = envelope_for(message.id, app.config).data
    assert without_date(rebuilt) == without_date(raw)
    page = client.get(f"/history/{message.id}").get_data(as_text=True)
    subject = BytesParser(policy=policy.default).parsebytes(raw)["Subject"]
    assert f"<th>Subject</th><td>{escape(subject)}</td>" in page


def arrived(smtp_server: ScriptedSMTPServer, address: str) -> Received:
    [received] = smtp_server.received_by(address)
    check_lines(received)
    return received


def test_the_api_sends_every_subject_and_name_exactly(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    subjects = trimmed(corpus(90, seed=101))  # every length, up to 998, with {{ }} as text
    people = names(3 * len(subjects), seed=102)
    sent = []
    for n, subject in enumerate(subjects):
        group = [(people[3 * n + k], f"api{n}-{k}-{unique}@example.vn") for k in range(3)]
        response = client.post(
            "/api/v1/emails",
            json={"to": [quoted(*person) for person in group], "subject": subject, "text": "x"},
        )
        assert response.status_code == 202, (subject, response.json)
        sent.append((response.json["id"], subject, group))
    for campaign_id, subject, group in sent:
        messages = wait_for_final(app, campaign_id, timeout=120)
        assert {m.status for m in messages} == {"sent"}
        for name, address in group:
            email = arrived(smtp_server, address).message
            assert email["Subject"] == subject
            assert email["To"].addresses[0].display_name == name
            assert email["To"].addresses[0].addr_spec == address
        if campaign_id % 10 == 0:
            raw = arrived(smtp_server, messages[0].to_address).raw
            assert_pages_show_what_was_sent(app, client, messages[0], raw)


def test_the_compose_form_sends_every_subject_and_name_exactly(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    subjects = trimmed(corpus(40, seed=201, braces=False))  # {{ }} would make it a template
    people = names(2 * len(subjects), seed=202)
    token = csrf_token(client)
    sent = []
    for n, subject in enumerate(subjects):
        group = [(people[2 * n + k], f"form{n}-{k}-{unique}@example.vn") for k in range(2)]
        response = client.post(
            "/",
            data={
                "csrf_token": token,
                "to": ",\n".join(quoted(*person) for person in group),
                "subject": subject,
                "text": "x",
                "html": "",
            },
        )
        assert response.status_code == 302, (subject, response.get_data(as_text=True)[-2000:])
        campaign_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        sent.append((campaign_id, subject, group))
    for campaign_id, subject, group in sent:
        assert {m.status for m in wait_for_final(app, campaign_id, timeout=120)} == {"sent"}
        for name, address in group:
            email = arrived(smtp_server, address).message
            assert email["Subject"] == subject
            assert email["To"].addresses[0].display_name == name


def test_a_csv_campaign_merges_every_value_exactly_or_refuses_it_by_name(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    values = corpus(260, seed=301)  # untrimmed: a merged value keeps its end spaces
    people = names(len(values), seed=302)
    rows = [[f"csv{n}-{unique}@example.vn", people[n], value] for n, value in enumerate(values)]
    # One merged subject past the 998-character limit: refused for that recipient, named.
    too_long = ["csv-long-" + unique + "@example.vn", "Dài quá", "ữ" * 1000]
    body = imported(
        client,
        csv_bytes([["email", "name", "subject"], *rows, too_long]),
        subject="{{ subject }}",
        text="Kính gửi {{ name }}",
    )
    assert body["import"]["valid"] == len(rows) + 1, body["import"]
    assert client.post(f"/api/v1/campaigns/{body['id']}/confirm").status_code == 200
    messages = {m.to_address: m for m in wait_for_final(app, body["id"], timeout=180)}

    refused = messages.pop(too_long[0])
    assert refused.status == "failed" and "subject" in refused.last_reply
    assert not smtp_server.received_by(too_long[0])
    assert {m.status for m in messages.values()} == {"sent"}
    for n, (address, name, value) in enumerate(rows):
        received = arrived(smtp_server, address)
        email = received.message
        if n % 10 == 0:
            assert_pages_show_what_was_sent(app, client, messages[address], received.raw)
        assert email["Subject"] == value
        assert email["To"].addresses[0].display_name == name
        assert email.get_body(("plain",)).get_content().rstrip("\r\n") == f"Kính gửi {name}"
