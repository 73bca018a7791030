"""A campaign whose recent attempts keep being refused pauses itself, says why, and resumes where
it stopped."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from dashboard.campaigns.control import resume_campaign
from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests.conftest import messages_of, wait_for_final, wait_until
from tests.smtp_server import ScriptedSMTPServer

RECIPIENTS = 40
REFUSED = 15  # the first fifteen are blocklisted: more than 5% of a 200-attempt window (10)


def test_refusals_past_the_threshold_pause_the_campaign_and_resume_continues(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    app.config["MAIL_BATCH_SIZE"] = 2
    smtp_server.script.data_delay = 0.05
    addresses = [f"g{i:02}-{unique}@example.vn" for i in range(RECIPIENTS)]
    for address in addresses[:REFUSED]:
        smtp_server.script.rcpt_replies[address] = "554 5.7.1 Service unavailable; blocklisted"
    with app.app_context():
        content = EmailContent.model_validate({"to": addresses, "subject": "Chặn", "text": "x"})
        campaign_id = submit_email(content, source="api").id

    def paused() -> Campaign | None:
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            return campaign if campaign.paused_at else None

    campaign = wait_until(paused, what="the failure guard to pause the campaign")
    assert "failure guard" in campaign.pause_reason
    assert "5xx" in campaign.pause_reason
    wait_until(
        lambda: not any(m.status == "sending" for m in messages_of(app, campaign_id)),
        what="batches in flight to finish",
    )
    before = messages_of(app, campaign_id)
    failed_before = [m for m in before if m.status == "failed"]
    assert 10 < len(failed_before) <= REFUSED
    assert sum(m.status == "queued" for m in before) > 0  # the rest of the list was spared
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="pause-reason"' in page and "Paused by the failure guard" in page
    assert 'id="campaign-state">paused<' in page
    api = client.get(f"/api/v1/emails/{campaign_id}").json
    assert api["status"] == "paused" and "failure guard" in api["pause_reason"]

    smtp_server.script.rcpt_replies.clear()  # the blocklisting is lifted
    with app.app_context():
        assert resume_campaign(db.session.get(Campaign, campaign_id)) > 0
    messages = wait_for_final(app, campaign_id)
    failed_ids = {m.id for m in failed_before}
    assert {m.id for m in messages if m.status == "failed"} == failed_ids
    assert all(m.status == "sent" for m in messages if m.id not in failed_ids)
    for message in messages:
        expected = 0 if message.id in failed_ids else 1
        assert len(smtp_server.received_by(message.to_address)) == expected
    assert 'id="pause-reason"' not in client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
