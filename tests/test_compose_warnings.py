"""Compose warns before Send when a merge field merges nothing for some recipients ({{ name }}
for a bare address), names them, and sends only once the warning is acknowledged."""

from __future__ import annotations

import html

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign
from tests.auth_helpers import form_csrf
from tests.csv_campaign_helpers import csv_bytes, imported


def _compose(client: FlaskClient, unique: str, **extra: str) -> tuple[int, str]:
    answer = client.post(
        "/",
        data={
            "csrf_token": form_csrf(client, "/"),
            "to": f"Nguyễn Văn A <a-{unique}@example.vn>, b-{unique}@example.vn, "
            f"c-{unique}@example.vn",
            "subject": f"Chào {{{{ name }}}} {unique}",
            "text": "Chào {{ name }}, !",
            **extra,
        },
    )
    return answer.status_code, html.unescape(answer.get_data(as_text=True))


def _campaigns(app: Flask, unique: str) -> list[Campaign]:
    with app.app_context():
        return list(
            db.session.scalars(select(Campaign).where(Campaign.subject.contains(unique))).all()
        )


def test_a_bare_address_is_named_before_send_and_nothing_goes_unacknowledged(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    status, page = _compose(client, unique)
    assert status == 422
    assert "{{ name }}</code> is empty for 2 of 3 recipients" in page
    assert f"b-{unique}@example.vn, c-{unique}@example.vn" in page
    assert f"a-{unique}@example.vn" not in page.split('id="empty-fields"')[1].split("</div>")[0]
    assert 'name="send_anyway"' in page
    assert _campaigns(app, unique) == []  # warned, not sent

    status, _ = _compose(client, unique, send_anyway="y")
    assert status == 302
    assert len(_campaigns(app, unique)) == 1


def test_the_warning_is_asked_for_as_the_fields_change(client: FlaskClient, unique: str) -> None:
    data = {
        "csrf_token": form_csrf(client, "/"),
        "to": f"b-{unique}@example.vn",
        "subject": "Tin mới",
        "text": "Chào {{ name }},",
    }
    warned = html.unescape(client.post("/compose/warnings", data=data).get_data(as_text=True))
    assert "{{ name }}</code> is empty for 1 of 1 recipients" in warned
    assert f"b-{unique}@example.vn" in warned
    named = {**data, "to": f"Bình <b-{unique}@example.vn>"}
    assert 'id="empty-fields"' not in client.post("/compose/warnings", data=named).get_data(
        as_text=True
    )
    unmerged = {**data, "text": "Chào bạn,"}
    assert 'id="empty-fields"' not in client.post("/compose/warnings", data=unmerged).get_data(
        as_text=True
    )


def test_the_api_accepts_and_says_which_recipients_merge_nothing(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    body = {
        "to": [f"An <a-{unique}@example.vn>", f"b-{unique}@example.vn", f"c-{unique}@example.vn"],
        "subject": f"Chào {{{{ name }}}} {unique}",
        "text": "Chào {{ name }}, đơn hàng của bạn đã sẵn sàng.",
        "merge": True,
    }
    headers = {"Accept-Language": "vi", "Idempotency-Key": f"warn-{unique}"}
    first = client.post("/api/v1/emails", json=body, headers=headers)
    assert first.status_code == 202
    [warning] = first.json["warnings"]
    assert warning["field"] == "name"
    assert (warning["empty_for"], warning["recipients"]) == (2, 3)
    assert warning["examples"] == [f"b-{unique}@example.vn", f"c-{unique}@example.vn"]
    assert warning["message"].startswith("{{ name }} ") and "2" in warning["message"]
    assert "is empty" not in warning["message"]  # in the requester's language
    assert len(_campaigns(app, unique)) == 1  # accepted: an API client asked for it as it is

    again = client.post("/api/v1/emails", json=body, headers=headers)
    assert again.status_code == 202 and again.json == first.json

    named = {**body, "to": [f"An <d-{unique}@example.vn>"]}
    assert client.post("/api/v1/emails", json=named).json["warnings"] == []
    as_written = {**body, "merge": False, "subject": f"Chào {{{{ name }}}} {unique}!"}
    assert client.post("/api/v1/emails", json=as_written).json["warnings"] == []


def test_a_template_that_falls_back_for_an_empty_name_is_not_warned_about(
    client: FlaskClient, unique: str
) -> None:
    """`{{ name or 'bạn' }}` or `{% if name %}` already say what an empty name becomes: Compose,
    the API and a CSV campaign's page warn only where a value is printed as it is."""
    data = {"csrf_token": form_csrf(client, "/"), "to": f"b-{unique}@example.vn"}
    for subject, text, warned in (
        ("Chào {{ name or 'bạn' }}", "Xin chào", False),
        ("Tin mới", "{% if name %}Chào {{ name }},{% else %}Chào bạn,{% endif %}", False),
        ("Tin mới", "Chào {{ name|title }},", True),
        ("Chào {{ name|default('bạn') }}", "x", True),  # default is for a missing value only
        ("Chào {{ name or 'bạn' }}", "Kính gửi {{ name }},", True),  # the text has no fallback
    ):
        fields = {**data, "subject": subject, "text": text}
        page = client.post("/compose/warnings", data=fields).get_data(as_text=True)
        assert ('id="empty-fields"' in page) is warned, (subject, text)
        email = {"to": fields["to"], "subject": subject, "text": text, "merge": True}
        answer = client.post("/api/v1/emails", json=email).json
        assert bool(answer["warnings"]) is warned, (subject, text, answer)

    rows = [[f"a-{unique}@example.vn", "Lan", ""], [f"b-{unique}@example.vn", "", ""]]
    body = imported(
        client,
        csv_bytes([["email", "name", "cong_ty"], *rows]),
        subject="Chào {{ name or 'bạn' }} ở {{ cong_ty }}",
        text="Xin chào",
    )
    assert body["import"]["empty_fields"] == [{"variable": "cong_ty", "rows": 2}]
