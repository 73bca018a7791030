"""Delivery webhooks end to end: a sender registers a real HTTP receiver on loopback, a campaign
goes out through the real worker and SMTP server (some recipients refused with 550), a recipient
unsubscribes, and the receiver gets each event once, signed (checked with `standardwebhooks`),
in order per message, also when it was down for part of it."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from dashboard.sending.queues import PRUNE_WEBHOOKS
from dashboard.webhooks.retention import prune_settled_events
from tests.auth_helpers import PASSWORD, Person, form_csrf, make_user, sign_in
from tests.conftest import wait_for_final, wait_until
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.smtp_server import ScriptedSMTPServer
from tests.webhook_receiver import Event, WebhookReceiver

ALL_EVENTS = ["sent", "failed", "bounced", "complained", "unsubscribed"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def sender(app: Flask, unique: str) -> Person:
    """A sender of their own: their campaigns' events go to their endpoints only."""
    return make_user(app, f"hooks-{unique}@example.com", role="sender")


def api_client(app: Flask, person: Person) -> FlaskClient:
    client = FlaskClient(app, app.response_class, use_cookies=True)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {person.token}"
    return client


def page_client(app: Flask, person: Person) -> FlaskClient:
    client = FlaskClient(app, app.response_class, use_cookies=True)
    assert sign_in(client, person.email, PASSWORD).status_code == 302
    return client


def register(client: FlaskClient, receiver: WebhookReceiver, events=ALL_EVENTS) -> dict:
    answer = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": events})
    assert answer.status_code == 201, answer.json
    assert answer.json["secret"].startswith("whsec_")
    receiver.secret = answer.json["secret"]
    return answer.json


def send_campaign(client: FlaskClient, addresses: list[str]) -> int:
    rows = [["email", "name"], *[[address, f"Khách {i}"] for i, address in enumerate(addresses)]]
    body = imported(client, csv_bytes(rows), subject="Chào {{ name }}", text="Xin chào {{ name }}")
    assert body["import"]["valid"] == len(addresses), body["import"]
    confirmed = client.post(f"/api/v1/campaigns/{body['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.json
    return body["id"]


def unsubscribe(client: FlaskClient, smtp_server: ScriptedSMTPServer, address: str) -> None:
    [received] = smtp_server.received_by(address)
    path = urlsplit(received.message["List-Unsubscribe"].strip("<>")).path
    answer = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200


def by_message(events: list[Event]) -> dict[int, list[str]]:
    """Each message's event types, in the order the receiver got them."""
    order: dict[int, list[str]] = {}
    for event in events:
        order.setdefault(event.data["message_id"], []).append(event.type)
    return order


def test_a_campaign_and_an_unsubscribe_reach_the_receiver_once_each_signed_and_in_order(
    app: Flask,
    smtp_server: ScriptedSMTPServer,
    receiver: WebhookReceiver,
    sender: Person,
    unique: str,
) -> None:
    client = api_client(app, sender)
    register(client, receiver)
    addresses = [f"wh{i}-{unique}@example.vn" for i in range(6)]
    refused = addresses[4:]
    for address in refused:
        smtp_server.script.rcpt_replies[address] = "550 5.1.1 No such user here"
    campaign_id = send_campaign(client, addresses)
    messages = wait_for_final(app, campaign_id)
    assert Counter(m.status for m in messages) == {"sent": 4, "failed": 2}
    unsubscribe(client, smtp_server, addresses[0])
    unsubscribe(client, smtp_server, addresses[0])  # a second click tells no one again

    expected = {
        m.id: ["message.sent"] if m.status == "sent" else ["message.failed"] for m in messages
    }
    expected[messages[0].id].append("message.unsubscribed")
    events = wait_until(
        lambda: (got := receiver.of_campaign(campaign_id)) and len(got) >= 7 and got,
        what="the campaign's seven events",
    )
    assert by_message(events) == expected
    assert receiver.rejected == []
    assert len({event.webhook_id for event in events}) == 7
    for event in events:
        message = next(m for m in messages if m.id == event.data["message_id"])
        assert event.data["to"] == message.to_address
        assert event.headers["content-type"] == "application/json"
        assert event.headers["webhook-signature"].startswith("v1,")
    failed = [e for e in events if e.type == "message.failed"]
    assert {e.data["smtp_code"] for e in failed} == {550}
    assert all("No such user" in e.data["smtp_reply"] for e in failed)

    time.sleep(1.5)  # several beat runs: nothing more comes, each event came once
    assert receiver.of_campaign(campaign_id) == events
    page = page_client(app, sender).get(f"/webhooks/{_endpoint_id(app, sender)}")
    html = page.get_data(as_text=True)
    assert "0 pending, 7 delivered, 0 failed" in html
    assert receiver.secret not in html  # the secret was shown once, at creation (by the API)


def test_settled_events_and_their_attempts_go_after_the_retention_pending_ones_stay(
    app: Flask,
    smtp_server: ScriptedSMTPServer,
    receiver: WebhookReceiver,
    sender: Person,
    unique: str,
) -> None:
    client = api_client(app, sender)
    register(client, receiver, events=["sent", "failed"])
    addresses = [f"keep{i}-{unique}@example.vn" for i in range(5)]
    smtp_server.script.rcpt_replies[addresses[4]] = "550 5.1.1 No such user here"
    campaign_id = send_campaign(client, addresses)
    wait_for_final(app, campaign_id)
    wait_until(
        lambda: len(receiver.of_campaign(campaign_id)) >= 5, what="the campaign's five events"
    )
    endpoint_id = _endpoint_id(app, sender)

    def delivery_states() -> list[str]:
        with app.app_context():
            query = select(WebhookDelivery.state).where(WebhookDelivery.endpoint_id == endpoint_id)
            return list(db.session.scalars(query.order_by(WebhookDelivery.id)))

    # The receiver has an event before the worker records its 2xx: wait for the rows.
    wait_until(
        lambda: delivery_states() == ["delivered"] * 5, what="five deliveries recorded delivered"
    )
    now = utcnow()
    with app.app_context():
        deliveries = list(
            db.session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id)
            )
        )
        # Three delivered long ago, one of them since failed on a replay; two recent.
        old, recent = deliveries[:3], deliveries[3:]
        for delivery in old:
            delivery.next_attempt_at = now - timedelta(days=31)
        old[2].state = "failed"
        # An event still waiting for its retry, written long ago: never deleted.
        waiting = WebhookDelivery(
            endpoint_id=endpoint_id,
            message_id=old[0].message_id,
            event="sent",
            event_id=f"evt_waiting_{unique}",
            payload="{}",
            state="pending",
            attempts=3,
            created_at=now - timedelta(days=40),
            next_attempt_at=now + timedelta(hours=1),
            retry_until=now + timedelta(hours=2),
        )
        db.session.add(waiting)
        db.session.flush()
        db.session.add(WebhookAttempt(delivery_id=waiting.id, endpoint_id=endpoint_id, at=now))
        db.session.commit()
        old_ids, recent_ids = [d.id for d in old], [d.id for d in recent]
        waiting_id = waiting.id

        # Bounded: two chunks of one event each, then the next run takes the rest.
        assert prune_settled_events(app.config, chunk=1, max_chunks=2) == 2
        assert prune_settled_events(app.config, chunk=1, max_chunks=50) >= 1
        assert prune_settled_events(app.config) == 0
        db.session.expire_all()
        kept = set(
            db.session.scalars(
                select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
            )
        )
        logged = set(
            db.session.scalars(
                select(WebhookAttempt.delivery_id).where(WebhookAttempt.endpoint_id == endpoint_id)
            )
        )
        db.session.rollback()
    assert kept == {*recent_ids, waiting_id}
    assert logged == kept  # the deleted events' attempts went with them, the others stayed
    assert not kept & set(old_ids)

    # The quarter-hourly beat job does it, beside the mail; the page says for how long.
    schedule = app.extensions["celery"].conf.beat_schedule["prune-webhook-events"]
    assert (schedule["task"], schedule["options"]["queue"]) == (PRUNE_WEBHOOKS, "bulk")
    html = page_client(app, sender).get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "kept with their attempts for 30 days after their last attempt" in html
    assert "0 pending" not in html and "1 pending, 2 delivered, 0 failed" in html


def _endpoint_id(app: Flask, person: Person) -> int:
    with app.app_context():
        return db.session.scalars(
            select(WebhookEndpoint.id).where(WebhookEndpoint.owner_id == person.id)
        ).one()


def _attempts(app: Flask, endpoint_id: int) -> list[WebhookAttempt]:
    with app.app_context():
        db.session.expire_all()
        return list(
            db.session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.endpoint_id == endpoint_id)
                .order_by(WebhookAttempt.id)
            )
        )


def test_a_receiver_down_for_a_while_gets_every_event_after_it_returns_in_order(
    app: Flask,
    smtp_server: ScriptedSMTPServer,
    receiver: WebhookReceiver,
    sender: Person,
    unique: str,
) -> None:
    client = api_client(app, sender)
    endpoint = register(client, receiver)
    receiver.stop()  # not listening: connections are refused
    addresses = [f"down{i}-{unique}@example.vn" for i in range(3)]
    campaign_id = send_campaign(client, addresses)
    messages = wait_for_final(app, campaign_id)
    # The unsubscribe's event is written while the sent event of its message still waits.
    unsubscribe(client, smtp_server, addresses[1])
    wait_until(lambda: len(_attempts(app, endpoint["id"])) >= 2, what="failed attempts")

    receiver.answer = 503  # listening again, but answering 503 for a while
    receiver.start()
    wait_until(lambda: receiver.requests >= 2, what="attempts answered 503")
    assert receiver.events == []
    receiver.answer = 204

    events = wait_until(
        lambda: (got := receiver.of_campaign(campaign_id)) and len(got) >= 4 and got,
        timeout=60,
        what="every event after the receiver came back",
    )
    expected = {m.id: ["message.sent"] for m in messages}
    expected[messages[1].id].append("message.unsubscribed")
    assert by_message(events) == expected
    assert receiver.rejected == []

    def endpoint_page() -> str:
        return page_client(app, sender).get(f"/webhooks/{endpoint['id']}").get_data(as_text=True)

    # The receiver has the last event before the worker records its 204: wait for the page.
    html = wait_until(
        lambda: "0 pending, 4 delivered, 0 failed" in (page := endpoint_page()) and page,
        what="the page to count four delivered",
    )
    attempts = _attempts(app, endpoint["id"])
    codes = {a.status_code for a in attempts}
    assert None in codes and 503 in codes and 204 in codes
    refused = next(a for a in attempts if a.status_code is None)
    assert "ConnectError" in refused.error
    answered = next(a for a in attempts if a.status_code == 503)
    assert answered.response == "down for maintenance" and not answered.ok
    assert "down for maintenance" in html and "ConnectError" in html


def test_an_endpoint_failing_for_a_day_is_disabled_with_a_notice_and_replayed_after(
    app: Flask,
    smtp_server: ScriptedSMTPServer,
    receiver: WebhookReceiver,
    sender: Person,
    unique: str,
) -> None:
    client = api_client(app, sender)
    endpoint = register(client, receiver, events=["sent"])
    receiver.redirect_to = "http://127.0.0.2:9/elsewhere"  # a redirect is never followed
    campaign_id = send_campaign(client, [f"day-{unique}@example.vn"])
    wait_for_final(app, campaign_id)
    wait_until(lambda: _attempts(app, endpoint["id"]), what="the redirected attempt")
    assert _attempts(app, endpoint["id"])[0].error == "a redirect (not followed)"
    with app.app_context():  # as if it had been failing since yesterday
        row = db.session.get(WebhookEndpoint, endpoint["id"])
        row.failing_since = utcnow() - timedelta(days=1, minutes=1)
        db.session.commit()

    def disabled() -> bool:
        return not client.get(f"/api/v1/webhooks/{endpoint['id']}").json["enabled"]

    wait_until(disabled, what="the endpoint to be disabled")
    shown = client.get(f"/api/v1/webhooks/{endpoint['id']}").json
    assert shown["disabled_by_failures"] is True
    people = page_client(app, sender)
    home = people.get("/campaigns/").get_data(as_text=True)
    assert f'id="webhook-disabled-{endpoint["id"]}"' in home  # the banner on every page
    html = people.get(f"/webhooks/{endpoint['id']}").get_data(as_text=True)
    assert 'id="disabled-notice"' in html and "disabled after a day of failures" in html

    receiver.redirect_to = ""
    token = form_csrf(people, f"/webhooks/{endpoint['id']}")
    assert (
        people.post(f"/webhooks/{endpoint['id']}/enable", data={"csrf_token": token}).status_code
        == 302
    )
    events = wait_until(lambda: receiver.of_campaign(campaign_id), what="the event after enabling")
    assert [e.type for e in events] == ["message.sent"]
    # Replaying a delivered event sends it again, with the same webhook-id.
    with app.app_context():
        delivery_id = _attempts(app, endpoint["id"])[-1].delivery_id
    token = form_csrf(people, f"/webhooks/{endpoint['id']}")
    replayed = people.post(
        f"/webhooks/{endpoint['id']}/events/{delivery_id}/replay", data={"csrf_token": token}
    )
    assert replayed.status_code == 302
    again = wait_until(
        lambda: len(got := receiver.of_campaign(campaign_id)) == 2 and got, what="the replay"
    )
    assert again[0].webhook_id == again[1].webhook_id
    assert "A webhook was disabled" not in people.get("/campaigns/").get_data(as_text=True)


def test_the_page_adds_an_endpoint_shows_its_secret_once_and_deletes_after_confirming(
    app: Flask, sender: Person, receiver: WebhookReceiver
) -> None:
    client = page_client(app, sender)
    token = form_csrf(client, "/webhooks/")
    refused = client.post(
        "/webhooks/", data={"csrf_token": token, "url": "ftp://example.com/x", "events": []}
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "must start with https://" in html and "choose at least one event" in html

    added = client.post(
        "/webhooks/",
        data={"csrf_token": token, "url": receiver.url, "events": ["sent", "failed"]},
    )
    assert added.status_code == 302
    page = client.get(added.headers["Location"]).get_data(as_text=True)
    secret = re.search(r"<pre class=\"secret\"><code>(whsec_[^<]+)</code>", page).group(1)
    assert "sent, failed" in page
    assert secret not in client.get(added.headers["Location"]).get_data(as_text=True)
    listing = client.get("/webhooks/").get_data(as_text=True)
    assert receiver.url in listing and secret not in listing

    endpoint_id = int(added.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    token = form_csrf(client, f"/webhooks/{endpoint_id}")
    client.post(f"/webhooks/{endpoint_id}/disable", data={"csrf_token": token})
    assert "disabled" in client.get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    confirm = client.get(f"/webhooks/{endpoint_id}/delete").get_data(as_text=True)
    assert "Delete this webhook?" in confirm
    token = form_csrf(client, f"/webhooks/{endpoint_id}/delete")
    assert (
        client.post(f"/webhooks/{endpoint_id}/delete", data={"csrf_token": token}).status_code
        == 302
    )
    assert client.get(f"/webhooks/{endpoint_id}").status_code == 404


def test_the_api_creates_lists_changes_and_deletes_and_names_every_bad_field(
    app: Flask, sender: Person, receiver: WebhookReceiver, unique: str
) -> None:
    client = api_client(app, sender)
    bad = client.post("/api/v1/webhooks", json={"url": "javascript:alert(1)", "events": ["opened"]})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"url", "events"}  # every problem at once
    assert "opened" in bad.json["error"]["fields"]["events"]
    bad = client.post("/api/v1/webhooks", json={"url": "gopher://x", "events": ["sent"]})
    assert bad.status_code == 422 and "url" in bad.json["error"]["fields"]

    created = register(client, receiver, events=["sent", "unsubscribed"])
    assert created["events"] == ["sent", "unsubscribed"] and created["enabled"] is True
    listed = client.get("/api/v1/webhooks").json["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0] and receiver.secret not in str(listed)
    changed = client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"enabled": False, "events": ["failed"]}
    )
    assert changed.status_code == 200
    assert (changed.json["enabled"], changed.json["events"]) == (False, ["failed"])

    stranger = api_client(app, make_user(app, f"other-{unique}@example.com"))
    assert stranger.get(f"/api/v1/webhooks/{created['id']}").status_code == 404
    assert stranger.delete(f"/api/v1/webhooks/{created['id']}").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert client.get("/api/v1/webhooks").json["webhooks"] == []

    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/webhooks", "/webhooks/{id}", "/webhooks/{id}/replay"} <= set(paths)


def test_in_production_loopback_and_private_targets_are_refused(app: Flask, sender: Person) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = False
    client = api_client(app, sender)
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
    ):
        answer = client.post("/api/v1/webhooks", json={"url": url, "events": ["sent"]})
        assert answer.status_code == 422, url
        assert "url" in answer.json["error"]["fields"], url
