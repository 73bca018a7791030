"""Forms that help: every problem at once, words that fit the form, drafts that can be deleted
(and are removed once abandoned), a warning before Send when {{ name }} merges nothing, and a
paused campaign that tells no time left and says "Paused" once."""

from __future__ import annotations

import html
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.campaigns.drafts import remove_abandoned_drafts
from dashboard.extensions import db
from dashboard.models import Campaign, Message, utcnow
from tests.auth_helpers import form_csrf
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.history_rows import seed_campaign


def test_compose_names_every_problem_at_once_in_its_own_words(
    app: Flask, client: FlaskClient
) -> None:
    answer = client.post(
        "/",
        data={
            "csrf_token": form_csrf(client, "/"),
            "to": "not an address",
            "subject": "",
            "text": "Chào {{ name }}",
            "send_at": "2020-01-01T10:00",
        },
    )
    assert answer.status_code == 422
    page = html.unescape(answer.get_data(as_text=True))
    assert "a subject is required" in page and "is in the past" in page  # all at once
    assert "&#39;not an address&#39; is not a valid address" in answer.get_data(as_text=True)

    unknown = client.post(
        "/",
        data={
            "csrf_token": form_csrf(client, "/"),
            "to": "lan@example.vn",
            "subject": "Chào {{ họ_tên }}",
            "text": "Xin chào",
        },
    )
    assert unknown.status_code == 422
    words = html.unescape(unknown.get_data(as_text=True))
    assert "The email uses {{ họ_tên }}, but an email (not a CSV campaign) offers only" in words
    assert "has no column" not in words and "the file" not in words


def test_the_api_names_every_field_problem_in_one_422(client: FlaskClient) -> None:
    answer = client.post(
        "/api/v1/emails",
        json={"to": "lan@", "from": "nobody", "subject": "", "text": "t", "send_at": "soon"},
    )
    assert answer.status_code == 422
    fields = answer.json["error"]["fields"]
    assert set(fields) == {"to", "from", "subject", "send_at"}, fields


def _draft(client: FlaskClient, unique: str, *, subject: str = "Chào {{ name }}") -> int:
    rows = [
        [f"a-{unique}@example.vn", "Lan"],
        [f"b-{unique}@example.vn", ""],  # a bare address: {{ name }} merges nothing
        [f"c-{unique}@example.vn", ""],
    ]
    body = imported(client, csv_bytes([["email", "name"], *rows]), subject=subject, text="Xin")
    assert body["import"]["status"] == "ready", body
    return body["id"]


def test_a_name_that_merges_nothing_is_counted_before_send(
    client: FlaskClient, unique: str
) -> None:
    campaign_id = _draft(client, unique)
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="empty-fields"' in page
    assert "{{ name }}</code> is empty in 2 rows" in html.unescape(page)


def test_a_draft_is_deleted_from_its_page_and_a_sent_campaign_is_not(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    campaign_id = _draft(client, unique)
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="delete-draft"' in page and "hx-confirm=" in page
    token = form_csrf(client, f"/campaigns/{campaign_id}")
    gone = client.post(f"/campaigns/{campaign_id}/delete", data={"csrf_token": token})
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/campaigns/")
    listing = client.get("/campaigns/").get_data(as_text=True)
    assert f"Draft #{campaign_id} deleted, with its 3 row(s)." in listing
    with app.app_context():
        assert db.session.get(Campaign, campaign_id) is None
        assert db.session.scalars(select(Message.id).filter_by(campaign_id=campaign_id)).all() == []

    sent_id, _ = seed_campaign(app, [{"to_address": f"s-{unique}@example.vn", "status": "sent"}])
    refused = client.post(f"/campaigns/{sent_id}/delete", data={"csrf_token": token})
    assert refused.status_code == 302
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Only a draft can be deleted" in shown
    with app.app_context():
        assert db.session.get(Campaign, sent_id) is not None


def test_beat_removes_drafts_abandoned_past_their_age_only(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    old, fresh = _draft(client, unique + "o"), _draft(client, unique + "f")
    with app.app_context():
        db.session.get(Campaign, old).created_at = utcnow() - timedelta(hours=25)
        db.session.commit()
        assert remove_abandoned_drafts(timedelta(hours=24)) >= 1
        assert db.session.get(Campaign, old) is None
        assert db.session.get(Campaign, fresh) is not None
        assert app.extensions["celery"].conf.beat_schedule["remove-abandoned-drafts"]


def test_a_paused_campaign_tells_no_time_left_and_says_paused_once(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    now = utcnow()
    campaign_id, _ = seed_campaign(
        app,
        [
            *[
                {"to_address": f"s{i}-{unique}@example.vn", "status": "sent", "sent_at": now}
                for i in range(3)
            ],
            {"to_address": f"q-{unique}@example.vn", "status": "queued"},
        ],
    )
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="campaign-state">paused<' in page
    assert 'id="time-left"' not in page and 'id="finish-estimate"' not in page
    assert page.count("Paused.") == 1
