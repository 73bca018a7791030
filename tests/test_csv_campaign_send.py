"""CSV campaigns sent by the real worker to the real SMTP server: personalised, pausable,
cancellable, and with a one-click unsubscribe that works."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from dashboard.campaigns.confirm import queue_next_drafts
from dashboard.extensions import db
from dashboard.models import MessageStatus
from dashboard.sending.publishing import publish_batches
from tests.concurrent_requests import fire_at_once
from tests.conftest import AdminIdentity, messages_of, wait_for_final, wait_until
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.smtp_server import ScriptedSMTPServer

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
GIVEN = ["Văn An", "Thị Bình", "Minh Châu", "Quốc Dũng", "Thu Hà", "Đức Huy", "Ngọc Lan"]


def people(count: int, unique: str) -> list[tuple[str, str, str]]:
    """(address, name, city) rows, each name different so a mix-up would show."""
    return [
        (
            f"kh{i}-{unique}@example.vn",
            f"{FAMILY[i % len(FAMILY)]} {GIVEN[i % len(GIVEN)]} {i}",
            ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ"][i % 4],
        )
        for i in range(count)
    ]


def campaign_file(rows: list[tuple[str, str, str]]) -> bytes:
    return csv_bytes([["email", "name", "thành phố"], *[list(row) for row in rows]])


SUBJECT = "Chào {{ name }}: thư mời riêng"
TEXT = "Kính gửi {{ name }} ở {{ thành_phố }},\nĐịa chỉ của bạn: {{ email }}\n"
HTML = "<p>Kính gửi <b>{{ name }}</b> ({{ thành_phố }})</p>"


def start(client: FlaskClient, rows: list[tuple[str, str, str]]) -> int:
    body = imported(client, campaign_file(rows), subject=SUBJECT, text=TEXT, html=HTML)
    assert body["import"]["status"] == "ready", body["import"]
    assert body["import"]["valid"] == len(rows)
    confirmed = client.post(f"/api/v1/campaigns/{body['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["affected"] == len(rows)
    return body["id"]


def sent_count(app: Flask, campaign_id: int) -> int:
    return sum(m.status == "sent" for m in messages_of(app, campaign_id))


def test_ten_thousand_rows_each_personalised_end_to_end(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    rows = people(10_000, unique)
    campaign_id = start(client, rows)
    messages = wait_for_final(app, campaign_id, timeout=300)
    assert {m.status for m in messages} == {"sent"}
    assert len(messages) == len(rows)

    # Only this campaign's mail: an earlier test's single email may still arrive meanwhile.
    ours = [r for r in smtp_server.received if unique in r.rcpt_tos[0]]
    received = {r.rcpt_tos[0]: r for r in ours}
    assert len(received) == len(rows) == len(ours)  # each recipient once
    for address, name, city in rows:
        email = received[address].message
        assert email["Subject"] == f"Chào {name}: thư mời riêng", address
        assert email["To"].addresses[0].addr_spec == address
        assert email["To"].addresses[0].display_name == name
        text = email.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == f"Kính gửi {name} ở {city},\nĐịa chỉ của bạn: {address}\n"
        assert email.get_body(("html",)).get_content().strip() == (
            f"<p>Kính gửi <b>{name}</b> ({city})</p>"
        )
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert email["List-Unsubscribe"].startswith("<http")
    by_id = {m.message_id_header for m in messages}
    assert {r.message["Message-ID"] for r in received.values()} == by_id

    status = client.get(f"/api/v1/campaigns/{campaign_id}").json
    assert status["status"] == "sent"
    assert status["counts"]["sent"] == len(rows)
    assert status["messages_per_second"] > 0


def test_pause_then_resume_sends_each_remaining_message_once(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    app.config["BULK_BATCH_SIZE"] = 15
    smtp_server.script.data_delay = 0.05
    rows = people(60, unique)
    campaign_id = start(client, rows)
    wait_until(lambda: sent_count(app, campaign_id) >= 3, what="the first messages")
    assert client.post(f"/api/v1/campaigns/{campaign_id}/pause").json["status"] == "paused"
    # Batches in flight stop within a moment and give their unsent messages back.
    wait_until(
        lambda: all(m.status in ("sent", "queued") for m in messages_of(app, campaign_id)),
        what="batches in flight to stop",
    )
    held = sent_count(app, campaign_id)
    time.sleep(1.0)
    assert sent_count(app, campaign_id) == held < len(rows)
    assert len(smtp_server.received) == held

    resumed = client.post(f"/api/v1/campaigns/{campaign_id}/resume").json
    assert resumed["affected"] == len(rows) - held
    messages = wait_for_final(app, campaign_id, timeout=60)
    assert [m.status for m in messages] == ["sent"] * len(rows)
    for address, _, _ in rows:
        assert len(smtp_server.received_by(address)) == 1, address


def test_cancel_stops_the_batch_in_flight_and_nothing_is_sent_after_it(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    app.config["BULK_BATCH_SIZE"] = 500  # one batch: cancel has to stop it half-way
    smtp_server.script.data_delay = 0.05
    rows = people(80, unique)
    campaign_id = start(client, rows)
    wait_until(lambda: sent_count(app, campaign_id) >= 3, what="the first messages")
    answer = client.post(f"/api/v1/campaigns/{campaign_id}/cancel").json
    messages = wait_for_final(app, campaign_id)
    statuses = [m.status for m in messages]
    assert set(statuses) == {"sent", "cancelled"}
    assert statuses.count("cancelled") >= len(rows) // 2  # the in-flight batch stopped early
    time.sleep(1.0)
    sent = {m.to_address for m in messages if m.status == "sent"}
    assert {r.rcpt_tos[0] for r in smtp_server.received} == sent
    assert answer["status"] in ("sending", "cancelled", "partly sent")
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'data-final="true"' in page and "hx-trigger" not in page


def test_one_click_unsubscribe_suppresses_the_address_for_every_later_send(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    rows = people(2, unique)
    wait_for_final(app, start(client, rows))
    leaving = rows[0][0]
    [received] = smtp_server.received_by(leaving)
    link = received.message["List-Unsubscribe"].strip("<>")
    path = urlsplit(link).path

    # A link scanner's GET changes nothing; the RFC 8058 POST (no session, no CSRF) does.
    page = client.get(path)
    assert page.status_code == 200 and leaving in page.get_data(as_text=True)
    assert leaving not in client.get("/suppressions/").get_data(as_text=True)
    response = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert leaving in client.get("/suppressions/").get_data(as_text=True)
    assert client.post(path[:-3] + "xyz").status_code == 404  # a forged token does nothing

    # The next CSV drops it before the preview; a single email to it is refused at send time.
    again = imported(client, campaign_file(rows), subject=SUBJECT, text=TEXT)
    assert (again["import"]["valid"], again["import"]["suppressed"]) == (1, 1)
    single = client.post(
        "/api/v1/emails", json={"to": [leaving, rows[1][0]], "subject": "Một thư", "text": "x"}
    )
    messages = wait_for_final(app, single.json["id"])
    by_address = {m.to_address: m for m in messages}
    assert by_address[leaving].status == "failed"
    assert "suppression list" in by_address[leaving].last_reply
    assert by_address[rows[1][0]].status == "sent"
    assert len(smtp_server.received_by(leaving)) == 1  # only the campaign's, before leaving


def test_a_row_its_template_cannot_render_fails_alone_with_the_reason(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    good, bad = f"chia-{unique}@example.vn", f"khong-{unique}@example.vn"
    body = imported(
        client,
        csv_bytes([["email", "so"], [good, "4"], [bad, "0"]]),
        subject="Phép chia",
        text="Mỗi phần: {{ 100 // (so|int) }}",
    )
    assert [p["error"] is None for p in body["preview"]] == [True, False]
    assert "ZeroDivisionError" in body["preview"][1]["error"]
    assert client.post(f"/api/v1/campaigns/{body['id']}/confirm").status_code == 200
    by_address = {m.to_address: m for m in wait_for_final(app, body["id"])}
    assert by_address[good].status == "sent"
    assert by_address[bad].status == "failed"
    assert "Not sent: the text template" in by_address[bad].last_reply
    [received] = smtp_server.received_by(good)
    assert received.message.get_content().strip() == "Mỗi phần: 25"
    assert smtp_server.received_by(bad) == []


def test_a_campaign_cancelled_before_send_can_never_be_sent(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    body = imported(client, campaign_file(people(3, unique)), subject=SUBJECT, text=TEXT)
    cancelled = client.post(f"/api/v1/campaigns/{body['id']}/cancel").json
    assert (cancelled["affected"], cancelled["status"]) == (3, "cancelled")
    refused = client.post(f"/api/v1/campaigns/{body['id']}/confirm")
    assert refused.status_code == 409
    assert refused.json["error"]["message"] == "The campaign was cancelled."
    assert client.post("/api/v1/campaigns/999999/pause").status_code == 404
    assert [m.status for m in messages_of(app, body["id"])] == ["cancelled"] * 3
    assert smtp_server.received == []


def test_a_server_that_drops_the_connection_mid_batch_still_gets_each_message_once(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    smtp_server.script.drop_every = 7  # close the connection instead of answering every 7th DATA
    rows = people(40, unique)
    campaign_id = start(client, rows)
    messages = wait_for_final(app, campaign_id, timeout=60)
    assert [m.status for m in messages] == ["sent"] * len(rows)
    for address, name, _ in rows:
        [received] = smtp_server.received_by(address)
        assert received.message["Subject"] == f"Chào {name}: thư mời riêng"


def test_a_campaign_scheduled_on_confirm_waits_then_each_row_is_sent_once(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    rows = people(6, unique)
    body = imported(client, campaign_file(rows), subject=SUBJECT, text=TEXT, html=HTML)
    campaign_id = body["id"]
    past = client.post(
        f"/api/v1/campaigns/{campaign_id}/confirm", json={"send_at": "2020-01-01T09:00:00+07:00"}
    )
    assert past.status_code == 422 and "send_at" in past.json["error"]["fields"]
    assert {m.status for m in messages_of(app, campaign_id)} == {"draft"}  # nothing moved

    due = datetime.now(UTC) + timedelta(seconds=3)
    confirmed = client.post(
        f"/api/v1/campaigns/{campaign_id}/confirm", json={"send_at": due.isoformat()}
    )
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["affected"] == len(rows)
    assert confirmed.json["status"] == "scheduled"
    assert {m.status for m in messages_of(app, campaign_id)} == {"scheduled"}
    assert [r for r in smtp_server.received if unique in r.rcpt_tos[0]] == []

    messages = wait_for_final(app, campaign_id)
    assert [m.status for m in messages] == ["sent"] * len(rows)
    stored_due = due.replace(tzinfo=None, microsecond=0)
    for message, (address, name, _city) in zip(messages, rows, strict=True):
        assert message.sent_at >= stored_due
        [received] = smtp_server.received_by(address)
        assert received.message["Subject"] == f"Chào {name}: thư mời riêng"


def test_a_confirm_cut_short_is_finished_by_the_next_and_each_row_goes_once(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    app.config["BULK_BATCH_SIZE"] = 7
    rows = people(30, unique)
    body = imported(client, campaign_file(rows), subject=SUBJECT, text=TEXT, html=HTML)
    campaign_id = body["id"]
    with app.app_context():
        # What a confirm stopped after its first batch leaves: that batch committed (each row
        # stamped with the task that carries it) and published, the rest drafts.
        batch = queue_next_drafts(campaign_id, {"status": MessageStatus.QUEUED}, 7, publish=True)
        assert batch is not None
        db.session.commit()
        publish_batches([batch], queue="bulk")
    first_ids = [m.id for m in messages_of(app, campaign_id)][:7]
    assert batch.message_ids == first_ids
    assert client.get(f"/api/v1/campaigns/{campaign_id}").json["status"] == "draft"

    confirmed = client.post(f"/api/v1/campaigns/{campaign_id}/confirm")
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["affected"] == len(rows) - 7
    messages = wait_for_final(app, campaign_id, timeout=60)
    assert [m.status for m in messages] == ["sent"] * len(rows)
    for address, name, _ in rows:
        [received] = smtp_server.received_by(address)
        assert received.message["Subject"] == f"Chào {name}: thư mời riêng"
    # A batch at a time, lowest ids first: every task carried the 7 rows its confirm stamped.
    by_task: dict[str, list[int]] = {}
    for message in messages:
        by_task.setdefault(message.task_id, []).append(message.id)
    assert sorted(by_task.values()) == [
        [m.id for m in messages][start : start + 7] for start in range(0, len(rows), 7)
    ]
    assert by_task[batch.task_id] == first_ids


def test_confirms_fired_at_once_queue_each_row_once(
    app: Flask,
    live_url: str,
    admin_identity: AdminIdentity,
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    app.config["BULK_BATCH_SIZE"] = 5
    rows = people(40, unique)
    client = app.test_client()
    body = imported(client, campaign_file(rows), subject=SUBJECT, text=TEXT, html=HTML)
    answers = [
        (status, json.loads(content))
        for status, content in fire_at_once(
            f"{live_url}/api/v1/campaigns/{body['id']}/confirm",
            b"",
            {"Authorization": f"Bearer {admin_identity.token}"},
            copies=8,
        )
    ]

    accepted = [answer for status, answer in answers if status == 200]
    assert accepted and sum(answer["affected"] for answer in accepted) == len(rows), answers
    for status, answer in answers:
        if status != 200:
            assert status == 409, answer
            assert "confirmed already" in answer["error"]["message"]
    messages = wait_for_final(app, body["id"], timeout=60)
    assert [m.status for m in messages] == ["sent"] * len(rows)
    for address, *_ in rows:
        assert len(smtp_server.received_by(address)) == 1
