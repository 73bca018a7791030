"""A user's email goes in through the API, the form or the CLI and arrives at a real SMTP server."""

from __future__ import annotations

import io
import re

import pytest
from celery.result import AsyncResult
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import DeliveryAttempt
from dashboard.tasks import send_batch
from tests.conftest import messages_of, wait_for_final
from tests.smtp_server import ScriptedSMTPServer

SUBJECT = "Thông báo: Hội nghị khách hàng năm 2026 – Đà Nẵng"  # noqa: RUF001 (an en dash, on purpose)
TEXT = "Kính gửi anh Nguyễn Văn A,\n\nChúng tôi trân trọng kính mời anh tham dự hội nghị.\n"
HTML = "<p>Kính gửi <b>anh Nguyễn Văn A</b>,</p><p>Trân trọng kính mời.</p>"


def attempts_of(app: Flask, message_id: int) -> list[DeliveryAttempt]:
    with app.app_context():
        rows = db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.id)
        ).all()
        return [db.session.merge(row, load=False) for row in rows]


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "the compose form carries no CSRF token"
    return match.group(1)


@pytest.mark.sqs
def test_api_email_arrives_with_exact_vietnamese_headers_and_both_parts(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"a-{unique}@example.vn"
    response = client.post(
        "/api/v1/emails",
        json={"to": [f"Nguyễn Văn A <{address}>"], "subject": SUBJECT, "text": TEXT, "html": HTML},
    )
    assert response.status_code == 202, response.json
    body = response.json
    assert body["recipients"] == 1 and body["status"] == "queued"
    assert response.headers["Location"] == body["status_url"]

    [message] = wait_for_final(app, body["id"])
    assert message.status == "sent"
    assert message.last_code == 250
    [attempt] = attempts_of(app, message.id)
    assert (attempt.outcome, attempt.smtp_code) == ("sent", 250)
    assert "queued" in attempt.smtp_reply

    [received] = smtp_server.received_by(address)
    email = received.message
    assert email["Subject"] == SUBJECT
    assert email["To"].addresses[0].display_name == "Nguyễn Văn A"
    assert email["To"].addresses[0].addr_spec == address
    assert email["From"].addresses[0].display_name == "Hệ thống Gửi thư"
    assert received.mail_from == "dispatcher@example.com"
    assert email["Message-ID"] == message.message_id_header
    assert email["Date"] is not None
    assert email.get_content_type() == "multipart/alternative"
    assert email.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT
    assert HTML in email.get_body(("html",)).get_content()
    # The wire form is 7-bit: any SMTP server takes it, 8BITMIME or not.
    assert all(byte < 128 for byte in received.raw)

    status = client.get(body["status_url"]).json
    assert status["status"] == "sent"
    assert status["counts"]["sent"] == 1 and status["total"] == 1
    assert status["messages"][0]["to"] == address

    task = client.get(f"/api/v1/tasks/{message.task_id}").json
    assert task["state"] == "SUCCESS"
    assert task["result"]["sent"] == 1
    assert [m["id"] for m in task["messages"]] == [message.id]


def test_form_sends_to_many_with_names_and_attachments(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    first, second = f"an-{unique}@example.vn", f"binh-{unique}@example.com"
    pdf = b"%PDF-1.4\n% fake but typed\n"
    response = client.post(
        "/",
        data={
            "csrf_token": csrf_token(client),
            "to": f'Nguyễn Văn An <{first}>\n"Trần, Bình" <{second}>',
            "subject": SUBJECT,
            "text": TEXT,
            "html": "",
            "attachments": [(io.BytesIO(pdf), "báo cáo.pdf", "application/pdf")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    job_url = response.headers["Location"]
    campaign_id = int(job_url.rstrip("/").rsplit("/", 1)[1])

    messages = wait_for_final(app, campaign_id)
    assert [(m.to_address, m.to_name, m.status) for m in messages] == [
        (first, "Nguyễn Văn An", "sent"),
        (second, "Trần, Bình", "sent"),
    ]
    [received] = smtp_server.received_by(second)
    email = received.message
    assert email["To"].addresses[0].display_name == "Trần, Bình"
    assert email.get_content_type() == "multipart/mixed"
    assert email.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "báo cáo.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf

    page = client.get(job_url).get_data(as_text=True)
    assert first in page and second in page
    assert page.count('<td><span class="status status-sent">sent</span></td>') == 2
    assert "hx-trigger" not in page  # every row is final, so the page no longer polls


def test_cli_send_test_reports_the_outcome(
    app: Flask, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"cli-{unique}@example.com"
    result = app.test_cli_runner().invoke(args=["send-test", "--to", address, "--timeout", "30"])
    assert result.exit_code == 0, result.output
    assert re.search(r"campaign \d+: sent sent=1", result.output)
    [received] = smtp_server.received_by(address)
    assert received.message["Subject"] == "Test email from the dispatcher"


@pytest.mark.sqs
def test_451_once_then_sent_after_a_retry(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"retry-{unique}@example.com"
    smtp_server.script.data_replies.append("451 4.3.0 Temporary local problem, try again")
    response = client.post(
        "/api/v1/emails", json={"to": address, "subject": "Thử lại", "text": "x"}
    )
    assert response.status_code == 202

    [message] = wait_for_final(app, response.json["id"])
    assert message.status == "sent"
    assert message.attempts == 2
    attempts = attempts_of(app, message.id)
    assert [(a.outcome, a.smtp_code) for a in attempts] == [("transient", 451), ("sent", 250)]
    assert "Temporary local problem" in attempts[0].smtp_reply
    assert len(smtp_server.received_by(address)) == 1


def test_550_fails_only_that_recipient_of_five(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    addresses = [f"r{i}-{unique}@example.com" for i in range(5)]
    refused = addresses[2]
    smtp_server.script.rcpt_replies[refused] = f"550 5.1.1 <{refused}>: Recipient address rejected"
    response = client.post(
        "/api/v1/emails", json={"to": addresses, "subject": "Năm người", "text": "x"}
    )
    assert response.status_code == 202

    messages = wait_for_final(app, response.json["id"])
    by_address = {m.to_address: m for m in messages}
    assert by_address[refused].status == "failed"
    assert by_address[refused].last_code == 550
    assert "Recipient address rejected" in by_address[refused].last_reply
    assert by_address[refused].attempts == 1  # permanent: never retried
    assert sorted(a for a, m in by_address.items() if m.status == "sent") == sorted(
        set(addresses) - {refused}
    )
    assert all(len(smtp_server.received_by(a)) == 1 for a in addresses if a != refused)
    assert smtp_server.received_by(refused) == []
    status = client.get(f"/api/v1/emails/{response.json['id']}").json
    assert status["status"] == "partly sent"
    assert status["counts"]["sent"] == 4 and status["counts"]["failed"] == 1


def test_campaign_page_polls_while_sending_and_stops_when_final(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    smtp_server.script.data_delay = 1.5
    response = client.post(
        "/api/v1/emails", json={"to": f"slow-{unique}@example.com", "subject": "Chậm", "text": "x"}
    )
    campaign_id = response.json["id"]
    live = client.get(f"/campaigns/{campaign_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert 'hx-trigger="every 2s"' in live
    assert "<html" not in live  # HTMX gets only the partial

    wait_for_final(app, campaign_id)
    final = client.get(f"/campaigns/{campaign_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "hx-trigger" not in final
    assert 'data-final="true"' in final
    assert "status-sent" in final


@pytest.mark.sqs
def test_a_batch_delivered_three_times_sends_each_message_once(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    """The broker may deliver a task again (late acks, a lost ack): the claim makes it harmless."""
    smtp_server.script.data_delay = 0.3  # keep the first copy busy while the others arrive
    addresses = [f"once{i}-{unique}@example.com" for i in range(3)]
    response = client.post(
        "/api/v1/emails", json={"to": addresses, "subject": "Một lần", "text": "x"}
    )
    assert response.status_code == 202
    ids = [m.id for m in messages_of(app, response.json["id"])]
    with app.app_context():
        first = AsyncResult(messages_of(app, response.json["id"])[0].task_id)
        copies = [send_batch.apply_async(args=[ids], queue="transactional") for _ in range(2)]
        outcomes = [task.get(timeout=30) for task in [first, *copies]]

    assert sum(outcome["claimed"] for outcome in outcomes) == len(ids)
    messages = wait_for_final(app, response.json["id"])
    assert [(m.status, m.attempts) for m in messages] == [("sent", 1)] * len(ids)
    assert [len(smtp_server.received_by(a)) for a in addresses] == [1, 1, 1]


def test_a_composed_email_is_a_campaign_with_one_page_and_one_api_name(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    """One noun: the id an email gets is its campaign's, on the pages and in the API."""
    address = f"mot-trang-{unique}@example.com"
    response = client.post(
        "/api/v1/emails",
        json={"to": f"Trần Thị Bình <{address}>", "subject": "Một trang", "text": "x"},
    )
    assert response.status_code == 202
    campaign_id = response.json["id"]
    assert response.json["campaign_url"].endswith(f"/api/v1/campaigns/{campaign_id}")
    [message] = wait_for_final(app, campaign_id)

    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert f"Campaign #{campaign_id}: Một trang" in page
    assert f'id="message-{message.id}"' in page
    assert f"Trần Thị Bình &lt;{address}&gt;" in page
    assert 'id="campaign-state">sent<' in page

    listed = client.get("/campaigns/").get_data(as_text=True)
    assert f'href="/campaigns/{campaign_id}"' in listed

    old = client.get(f"/jobs/{campaign_id}")
    assert (old.status_code, old.headers["Location"]) == (301, f"/campaigns/{campaign_id}")

    api_view = client.get(f"/api/v1/campaigns/{campaign_id}").json
    assert (api_view["id"], api_view["status"], api_view["counts"]["sent"]) == (
        campaign_id,
        "sent",
        1,
    )


def test_an_api_email_that_uses_merge_fields_is_rendered_for_each_recipient(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    """With `merge`, an API email is a template, as on Compose: each recipient gets their own
    name and address in it (the 202's warnings say for whom a field merges nothing); without
    it, the braces arrive as written."""
    named, bare = f"an-{unique}@example.vn", f"binh-{unique}@example.vn"
    response = client.post(
        "/api/v1/emails",
        json={
            "to": [f"Nguyễn Văn An <{named}>", bare],
            "subject": "Chào {{ name or 'bạn' }} – hoá đơn tháng 12",  # noqa: RUF001
            "text": "Kính gửi {{ name or 'quý khách' }},\nthư này gửi tới {{ email }}.\n",
            "html": "<p>Kính gửi <b>{{ name }}</b></p>",
            "merge": True,
        },
    )
    assert response.status_code == 202, response.json
    assert [warning["field"] for warning in response.json["warnings"]] == ["name"]
    assert [m.status for m in wait_for_final(app, response.json["id"])] == ["sent", "sent"]

    [first] = smtp_server.received_by(named)
    assert first.message["Subject"] == "Chào Nguyễn Văn An – hoá đơn tháng 12"  # noqa: RUF001
    text = first.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == f"Kính gửi Nguyễn Văn An,\nthư này gửi tới {named}.\n"
    assert "<p>Kính gửi <b>Nguyễn Văn An</b></p>" in first.message.get_body(("html",)).get_content()
    [second] = smtp_server.received_by(bare)
    assert second.message["Subject"] == "Chào bạn – hoá đơn tháng 12"  # noqa: RUF001
    text = second.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == f"Kính gửi quý khách,\nthư này gửi tới {bare}.\n"

    literal = f"lit-{unique}@example.vn"
    response = client.post(
        "/api/v1/emails",
        json={"to": [f"Nguyễn Văn An <{literal}>"], "subject": "{{ name }}", "text": "{% x %}\n"},
    )
    assert response.status_code == 202 and response.json["warnings"] == []
    wait_for_final(app, response.json["id"])
    [as_written] = smtp_server.received_by(literal)
    assert as_written.message["Subject"] == "{{ name }}"
    assert as_written.message.get_content().replace("\r\n", "\n") == "{% x %}\n"
