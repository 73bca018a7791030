"""Sending later: through the API and the form, shown in the display zone, moved and cancelled
on the scheduled-jobs page, and dispatched by the beat when due."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.models import Campaign
from tests.conftest import count_rows, messages_of, wait_for_final
from tests.smtp_server import ScriptedSMTPServer
from tests.test_send_end_to_end import csrf_token

SAIGON = ZoneInfo("Asia/Ho_Chi_Minh")


def campaign_of(app: Flask, campaign_id: int) -> Campaign:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        db.session.expunge(campaign)
        return campaign


@pytest.mark.sqs
def test_api_send_at_holds_the_email_until_it_is_due(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"later-{unique}@example.vn"
    due = datetime.now(SAIGON) + timedelta(seconds=3)
    response = client.post(
        "/api/v1/emails",
        json={"to": address, "subject": "Hẹn giờ", "text": "Gửi sau", "send_at": due.isoformat()},
    )
    assert response.status_code == 202, response.json
    assert response.json["status"] == "scheduled"
    stored_due = due.astimezone(UTC).replace(tzinfo=None)
    assert response.json["send_at"] == stored_due.isoformat(timespec="seconds") + "Z"
    [message] = messages_of(app, response.json["id"])
    assert message.status == "scheduled"
    assert client.get(response.json["status_url"]).json["status"] == "scheduled"
    assert smtp_server.received_by(address) == []

    [message] = wait_for_final(app, response.json["id"])
    assert message.status == "sent"
    assert message.sent_at >= stored_due.replace(microsecond=0)
    [received] = smtp_server.received_by(address)
    assert received.message["Subject"] == "Hẹn giờ"


def test_api_refuses_a_time_without_offset_a_past_time_and_a_number(
    app: Flask, client: FlaskClient
) -> None:
    base = {"to": "x@example.com", "subject": "s", "text": "t"}
    naive = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    cases = {
        naive: "UTC offset",
        past: "in the past",
        "tomorrow": "not an ISO 8601 time",
    }
    for value, expected in cases.items():
        response = client.post("/api/v1/emails", json={**base, "send_at": value})
        assert response.status_code == 422, value
        assert expected in response.json["error"]["fields"]["send_at"], response.json
        assert "send_at" in response.json["error"]["message"]
    response = client.post("/api/v1/emails", json={**base, "send_at": 1893456000})
    assert response.status_code == 422
    assert "ISO 8601" in response.json["error"]["fields"]["send_at"]


def test_form_time_is_read_and_shown_in_the_display_zone_then_moved_and_cancelled(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    app.config["DISPLAY_TIMEZONE"] = "Asia/Ho_Chi_Minh"
    address = f"form-later-{unique}@example.vn"
    local = (datetime.now(SAIGON) + timedelta(hours=2)).replace(second=0, microsecond=0)
    page = client.get("/").get_data(as_text=True)
    assert "Times are in Asia/Ho_Chi_Minh" in page and 'type="datetime-local"' in page
    response = client.post(
        "/",
        data={
            "csrf_token": csrf_token(client),
            "to": address,
            "subject": "Lịch gửi",
            "text": "x",
            "send_at": local.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    campaign = campaign_of(app, campaign_id)
    assert campaign.send_at == local.astimezone(UTC).replace(tzinfo=None)  # stored as UTC

    job = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert f"Scheduled for {local:%Y-%m-%d %H:%M:%S} (Asia/Ho_Chi_Minh)" in job
    assert 'id="campaign-state">scheduled<' in job

    listing = client.get("/scheduled/").get_data(as_text=True)
    assert f'id="scheduled-{campaign_id}"' in listing
    assert f"{local:%Y-%m-%d %H:%M:%S}" in listing

    token = csrf_token(client)
    past = (datetime.now(SAIGON) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(
        f"/scheduled/{campaign_id}/move", data={"csrf_token": token, "send_at": past}
    )
    assert refused.status_code == 422
    assert "is in the past" in refused.get_data(as_text=True)

    later = local + timedelta(days=1, minutes=30)
    moved = client.post(
        f"/scheduled/{campaign_id}/move",
        data={"csrf_token": token, "send_at": later.strftime("%Y-%m-%dT%H:%M")},
    )
    assert moved.status_code == 303
    assert campaign_of(app, campaign_id).send_at == later.astimezone(UTC).replace(tzinfo=None)
    [message] = messages_of(app, campaign_id)
    assert message.next_attempt_at == later.astimezone(UTC).replace(tzinfo=None)

    cancelled = client.post(f"/scheduled/{campaign_id}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    [message] = messages_of(app, campaign_id)
    assert message.status == "cancelled"
    assert f'id="scheduled-{campaign_id}"' not in client.get("/scheduled/").get_data(as_text=True)
    assert smtp_server.received_by(address) == []


def test_form_refuses_a_past_time_beside_the_field_and_stores_nothing(
    app: Flask, client: FlaskClient
) -> None:
    before = count_rows(app, Campaign)
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    for value, expected in [(past, "is in the past"), ("next week", "is not a date and time")]:
        response = client.post(
            "/",
            data={
                "csrf_token": csrf_token(client),
                "to": "a@example.com",
                "subject": "s",
                "text": "t",
                "send_at": value,
            },
        )
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert re.search(rf'<p class="error" role="alert">[^<]*{expected}', page), page[-3000:]
    assert count_rows(app, Campaign) == before


def test_moving_or_cancelling_an_unknown_campaign_is_a_404_page(client: FlaskClient) -> None:
    token = csrf_token(client)
    response = client.post("/scheduled/999999/cancel", data={"csrf_token": token})
    assert response.status_code == 404
    assert "no such campaign" in response.get_data(as_text=True)
