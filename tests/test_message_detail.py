"""A message's detail: what would be sent, the log of every attempt, and the retry and cancel
actions, with a real worker and a real SMTP server behind them."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import messages_of, wait_for_final
from tests.history_rows import csrf_from, seed_campaign
from tests.smtp_server import ScriptedSMTPServer


def test_a_refused_message_shows_its_attempt_and_is_sent_after_a_retry(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"tu-choi-{unique}@example.vn"
    smtp_server.script.rcpt_replies[address] = f"550 5.1.1 <{address}>: Recipient unknown"
    response = client.post(
        "/api/v1/emails",
        json={
            "to": [f"Phạm Thị Tú <{address}>"],
            "subject": "Xác nhận đơn hàng",
            "text": "Cảm ơn quý khách.",
            "html": '<p>Cảm ơn <b>quý khách</b></p><script>alert("x")</script>',
        },
    )
    [message] = wait_for_final(app, response.json["id"])
    assert message.status == "failed"

    page = client.get(f"/history/{message.id}").get_data(as_text=True)
    assert 'id="message-status">failed<' in page
    assert "Recipient unknown" in page and 'data-label="SMTP code">550</td>' in page
    assert "tests-" in page  # the worker that tried it
    assert "=?utf-8?" not in page  # headers are shown decoded
    assert "<th>Subject</th><td>Xác nhận đơn hàng</td>" in page
    assert "<th>To</th><td>Phạm Thị Tú &lt;" in page
    escaped_id = message.message_id_header.replace("<", "&lt;").replace(">", "&gt;")
    assert f"<th>Message-ID</th><td>{escaped_id}</td>" in page
    assert "Cảm ơn quý khách." in page
    # The HTML is only ever its own document, in a sandboxed iframe with no allow-* flags.
    assert f'<iframe class="html-body" sandbox src="/history/{message.id}/preview"' in page
    preview = client.get(f"/history/{message.id}/preview").get_data(as_text=True)
    assert preview.startswith("<p>Cảm ơn <b>quý khách</b></p>")
    assert "<script>alert" not in page
    assert 'id="retry"' in page and 'id="cancel"' not in page

    del smtp_server.script.rcpt_replies[address]
    token = csrf_from(client, f"/history/{message.id}")
    retried = client.post(f"/history/{message.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 303
    [message] = wait_for_final(app, response.json["id"])
    assert (message.status, message.attempts) == ("sent", 2)
    [received] = smtp_server.received_by(address)
    assert received.message["Message-ID"] == message.message_id_header  # the same message again

    page = client.get(f"/history/{message.id}").get_data(as_text=True)
    assert page.count('<td><span class="status status-') == 2  # two attempts logged
    assert 'data-label="SMTP code">250</td>' in page and 'id="retry"' not in page


def test_cancel_a_waiting_message_and_refuse_what_does_not_apply(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    campaign, [waiting, sent] = seed_campaign(
        app,
        [
            {"to_address": f"cho-{unique}@example.vn", "status": "queued"},
            {"to_address": f"da-gui-{unique}@example.vn", "status": "sent", "sent_attempts": 1},
        ],
    )
    page = client.get(f"/history/{waiting}").get_data(as_text=True)
    assert 'id="cancel"' in page and 'id="no-attempts"' in page

    # Without the form's CSRF token nothing changes.
    forged = client.post(f"/history/{waiting}/cancel")
    assert forged.status_code == 400
    assert [m.status for m in messages_of(app, campaign)] == ["queued", "sent"]

    token = csrf_from(client, f"/history/{waiting}")
    done = client.post(
        f"/history/{waiting}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert "The message is cancelled; it will not be sent." in done.get_data(as_text=True)
    assert [m.status for m in messages_of(app, campaign)] == ["cancelled", "sent"]

    again = client.post(
        f"/history/{waiting}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Only a message waiting to be sent can be cancelled; this one is cancelled." in (
        again.get_data(as_text=True)
    )
    refused = client.post(
        f"/history/{sent}/retry", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Only a failed message can be retried; this one is sent." in refused.get_data(
        as_text=True
    )
    assert [m.status for m in messages_of(app, campaign)] == ["cancelled", "sent"]
    assert client.get("/history/999999999").status_code == 404
    assert client.post("/history/999999999/retry", data={"csrf_token": token}).status_code == 404
