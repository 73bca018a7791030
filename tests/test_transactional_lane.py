"""The API's mail has a lane of its own: whatever a campaign is doing, a single email goes before
the campaign's remaining messages. Real processes started as `make run` starts them (the workers
of `DEFAULT_LANES` and beat), Redis, the database and an aiosmtpd server; the assertions are on
the order in which the server received the mail, never on wall-clock times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Message
from dashboard.ops.local_stack import DEFAULT_LANES
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from tests.conftest import wait_until
from tests.fault_stack import FaultStack, own_stacks, signed_in, wait_for
from tests.smtp_server import ScriptedSMTPServer


@pytest.fixture
def stack_with(tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    with own_stacks(tmp_path, "lane") as make:
        yield make


def start_like_make_run(stack: FaultStack) -> None:
    for lane in DEFAULT_LANES:
        stack.start_worker(lane.name, lane.concurrency, queues=lane.queues)
    stack.start_beat()


def start_campaign(app: Flask, count: int, tag: str) -> int:
    """A campaign on the `bulk` queue, as a confirmed CSV campaign is."""
    with app.app_context():
        content = EmailContent.model_validate(
            {
                "to": [f"{tag}{i:05}@example.vn" for i in range(count)],
                "subject": f"Bản tin {tag}",
                "text": "Xin chào",
            }
        )
        return submit_email(content, source="api", queue="bulk").id


def post_single(client: FlaskClient, address: str) -> None:
    response = client.post(
        "/api/v1/emails",
        json={"to": address, "subject": "Mã đặt lại mật khẩu", "text": "Mã: 482913"},
    )
    assert response.status_code == 202, response.get_data(as_text=True)


def single_email_overtakes(
    smtp: ScriptedSMTPServer, client: FlaskClient, address: str, campaign_tag: str
) -> tuple[int, int]:
    """Post a single email mid-campaign; return how many campaign messages the server received
    between the 202 and the single email, and how many were still to come after it."""
    post_single(client, address)
    after_202 = len(smtp.received)
    wait_until(lambda: smtp.received_by(address), timeout=60, what=f"{address} to arrive")
    received = smtp.received
    position = next(i for i, r in enumerate(received) if address in r.rcpt_tos)
    campaign_mail = [r for r in received[after_202:position] if campaign_tag in r.rcpt_tos[0]]
    return len(campaign_mail), position


def campaign_received(smtp: ScriptedSMTPServer, tag: str, before: int | None = None) -> int:
    return sum(1 for r in smtp.received[:before] if tag in r.rcpt_tos[0])


def test_a_single_email_overtakes_a_rate_limited_campaign(
    stack_with: Callable[..., FaultStack],
) -> None:
    smtp = ScriptedSMTPServer()
    smtp.start()
    rate = 20
    stack = stack_with(smtp, RATE_LIMIT_PER_SECOND=str(rate), STALE_QUEUED_SECONDS="120")
    app = stack.app()
    client = signed_in(app)
    start_like_make_run(stack)
    total = 400  # 20 s at the rate: on main, single emails waited for the whole campaign
    start_campaign(app, total, "news")
    wait_for(stack, app, lambda c: c["sent"] >= 2 * rate, 60, "the campaign under way")

    for n in range(3):
        between, position = single_email_overtakes(smtp, client, f"reset{n}@example.vn", "news")
        # Behind at most two seconds' worth of the campaign's messages, and before the rest.
        assert between <= 2 * rate, (n, between)
        assert campaign_received(smtp, "news", before=position) < total - 4 * rate
    counts = wait_for(stack, app, lambda c: c["sent"] == total + 3, 120, "everything sent")
    assert counts["failed"] == 0


@pytest.mark.sqs
def test_a_single_email_overtakes_a_campaign_sending_as_fast_as_the_server_takes(
    stack_with: Callable[..., FaultStack],
) -> None:
    smtp = ScriptedSMTPServer()
    smtp.start()
    stack = stack_with(smtp, STALE_QUEUED_SECONDS="120")
    app = stack.app()
    client = signed_in(app)
    start_like_make_run(stack)
    total, batch = 6000, 500
    start_campaign(app, total, "fast")
    wait_for(stack, app, lambda c: c["sent"] >= batch, 120, "the campaign under way")

    between, position = single_email_overtakes(smtp, client, "otp@example.vn", "fast")
    # Not behind a whole bulk batch of each bulk process, and well before the campaign's end.
    assert between < batch, between
    assert campaign_received(smtp, "fast", before=position) < total - batch
    counts = wait_for(stack, app, lambda c: c["sent"] == total + 1, 300, "everything sent")
    assert counts["failed"] == 0


def test_the_daily_reserve_is_the_single_emails_and_the_campaign_waits(
    stack_with: Callable[..., FaultStack],
) -> None:
    smtp = ScriptedSMTPServer()
    smtp.start()
    stack = stack_with(
        smtp, RATE_LIMIT_PER_DAY="100", RATE_LIMIT_TRANSACTIONAL_RESERVE_PERCENT="10"
    )
    app = stack.app()
    client = signed_in(app)
    start_like_make_run(stack)
    campaign_id = start_campaign(app, 150, "quota")
    held = wait_for(
        stack, app, lambda c: c["sent"] == 90 and c["retrying"] == 60, 60, "the campaign held"
    )
    assert held["queued"] == held["sending"] == 0

    post_single(client, "invoice@example.vn")
    wait_until(lambda: smtp.received_by("invoice@example.vn"), timeout=60, what="the invoice")
    assert campaign_received(smtp, "quota") == 90  # the campaign spent none of the reserve
    with app.app_context():
        waiting = db.session.scalars(
            select(Message.last_reply).where(
                Message.campaign_id == campaign_id, Message.status == "retrying"
            )
        ).all()
        db.session.rollback()
    assert len(waiting) == 60
    assert all("10 are kept for single emails" in reply for reply in waiting)

    # The campaign's page tells the truth: at this quota it finishes tomorrow.
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    estimate = page.split('id="finish-estimate">', 1)[1].split("</p>", 1)[0]
    estimate = " ".join(estimate.split())
    assert "90 a day (10 of the daily 100 are kept for single emails)" in estimate
    assert "60 left, 0 more can go today" in estimate
    assert "1 day from today: the rest waits for the next days' quota" in estimate
    # And so does the API's JSON of the campaign.
    asked = datetime.now(UTC)
    shown = client.get(f"/api/v1/campaigns/{campaign_id}").get_json()
    finish = shown["finish"]
    assert finish["remaining"] == 60 and finish["per_day"] == 90 and finish["left_today"] == 0
    assert finish["days"] == 1 and finish["waits_for_tomorrow"] is True
    assert finish["finishes_at"].endswith("Z")
    # Its time left is the time to that moment, tomorrow: not the recent pace's few seconds.
    finishes_at = datetime.fromisoformat(finish["finishes_at"].replace("Z", "+00:00"))
    assert abs(shown["seconds_left"] - (finishes_at - asked).total_seconds()) < 5
