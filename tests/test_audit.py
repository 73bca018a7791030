"""The audit trail: what people do is recorded by the services, shown to admins on /audit/
and as JSON, filtered and keyset-paged, and never holds a secret."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from dashboard.auth import SENDER, VIEWER
from dashboard.auth.audit_trail import PAGE_SIZE
from dashboard.extensions import db
from dashboard.models import ACTIONS, record_event
from dashboard.web.formatting import word
from tests.auth_helpers import PASSWORD, form_csrf, make_user, sign_in
from tests.conftest import AdminIdentity


def trail(client: FlaskClient, **filters: str) -> list[dict]:
    answer = client.get("/api/v1/audit", query_string=filters)
    assert answer.status_code == 200, answer.json
    return answer.json["events"]


def test_what_a_sender_does_is_recorded_and_shown_to_admins(
    app: Flask,
    client: FlaskClient,
    anonymous_client: FlaskClient,
    unique: str,
    admin_identity: AdminIdentity,
) -> None:
    person = make_user(app, f"audited-{unique}@example.com", role=SENDER)
    typed_password_as_email = f"hunter2-{unique}-secret"
    assert (
        sign_in(anonymous_client, person.email, "wrong guess", ip="198.51.100.41").status_code
        == 401
    )
    assert (
        sign_in(anonymous_client, typed_password_as_email, "x", ip="198.51.100.41").status_code
        == 401
    )
    assert sign_in(anonymous_client, person.email, PASSWORD, ip="198.51.100.41").status_code == 302
    created = anonymous_client.post(
        "/tokens",
        data={"csrf_token": form_csrf(anonymous_client, "/tokens"), "name": "billing"},
        follow_redirects=True,
    )
    secret = re.search(r"<code>(edt_[^<]+)</code>", created.get_data(as_text=True)).group(1)
    api = {"Authorization": f"Bearer {secret}"}
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    sent = anonymous_client.post(
        "/api/v1/emails",
        json={"to": f"r-{unique}@example.com", "subject": "s", "text": "t", "send_at": due},
        headers=api,
    ).json
    assert "id" in sent, sent
    campaign = f"campaign {sent['id']}"
    assert (
        anonymous_client.post(f"/api/v1/campaigns/{sent['id']}/pause", headers=api).status_code
        == 200
    )
    assert (
        anonymous_client.post(f"/api/v1/campaigns/{sent['id']}/cancel", headers=api).status_code
        == 200
    )
    suppressed = anonymous_client.post(
        "/suppressions/",
        data={
            "csrf_token": form_csrf(anonymous_client, "/suppressions/"),
            "addresses": f"gone-{unique}@example.com",
            "reason": "manual",
        },
    )
    assert suppressed.status_code in (200, 303, 302)
    assert (
        client.post(
            f"/users/{person.id}/role",
            data={"csrf_token": form_csrf(client, "/users"), "role": VIEWER},
        ).status_code
        == 302
    )

    mine = trail(client, actor=person.email)
    assert [(e["action"], e["target"]) for e in reversed(mine)] == [
        ("sign-in-failed", f"user {person.id}"),
        ("sign-in", f"user {person.id}"),
        ("token-created", mine[-3]["target"]),
        ("scheduled", campaign),
        ("paused", campaign),
        ("cancelled", campaign),
        ("suppressed", f"gone-{unique}@example.com"),
    ]
    assert all(e["actor_id"] == person.id for e in mine)
    assert {e["ip"] for e in mine[-2:]} == {"198.51.100.41"}
    changed = trail(client, action="role-changed", target=f"user {person.id}")
    assert [e["detail"] for e in changed] == [f"{person.email}: sender to viewer"]
    assert changed[0]["actor"] == admin_identity.email

    page = client.get("/audit/", query_string={"actor": person.email}).get_data(as_text=True)
    for event in mine:
        assert f'id="event-{event["id"]}"' in page
    everything = client.get("/audit/").get_data(as_text=True) + str(trail(client))
    for secret_text in (PASSWORD, secret, typed_password_as_email, "wrong guess"):
        assert secret_text not in everything


def test_the_trail_is_for_admins_only(app: Flask, unique: str) -> None:
    for role in (VIEWER, SENDER):
        person = make_user(app, f"nosy-{role}-{unique}@example.com", role=role)
        program = FlaskClient(app, app.response_class, use_cookies=False)
        answer = program.get("/api/v1/audit", headers={"Authorization": f"Bearer {person.token}"})
        assert answer.status_code == 403


def test_pages_are_cut_by_id_and_filters_are_checked(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    actor = f"many-{unique}@example.com"
    with app.app_context():
        for number in range(2 * PAGE_SIZE + 7):
            record_event("sent", f"campaign {number}", actor=actor)
        db.session.commit()
    seen: list[int] = []
    url: str | None = f"/api/v1/audit?actor={actor}"
    for _ in range(5):  # bounded: three pages are expected
        body = client.get(url).json
        seen += [e["id"] for e in body["events"]]
        url = body["older"]
        if url is None:
            break
    assert url is None
    assert len(seen) == 2 * PAGE_SIZE + 7 and seen == sorted(seen, reverse=True)
    first = client.get("/audit/", query_string={"actor": actor}).get_data(as_text=True)
    assert f"before={seen[PAGE_SIZE - 1]}" in first and "Older" in first
    bad = client.get("/api/v1/audit?action=drop-tables&since=yesterday")
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"action", "since"}
    assert set(client.get("/api/v1/audit?page=2").json["error"]["fields"]) == {"page"}
    assert client.get("/audit/?before=x").status_code == 422


def test_what_admins_do_to_accounts_pools_and_webhooks_can_be_found_by_its_action(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    """Every action the services record is one the trail's filter takes, with a label of its
    own in each language: adding and removing sending accounts, pools and webhooks were
    recorded but refused as filters ('is not an action') and shown as their raw names."""
    account = {
        "name": f"audit-{unique}",
        "host": "smtp.example.com",
        "port": 587,
        "username": "sender@example.com",
        "password": PASSWORD,
    }
    added = client.post("/api/v1/accounts", json=account)
    assert added.status_code == 201, added.json
    pool = client.post(
        "/api/v1/pools", json={"name": f"pool-{unique}", "accounts": [account["name"]]}
    )
    assert pool.status_code == 201, pool.json
    hook = client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/audit", "events": ["sent"]}
    )
    assert hook.status_code == 201, hook.json
    assert client.delete(f"/api/v1/webhooks/{hook.json['id']}").status_code in (200, 204)
    # Removed again, pool first: the other tests' key rotations must find only their own.
    assert client.delete(f"/api/v1/pools/{pool.json['id']}").status_code in (200, 204)
    assert client.delete(f"/api/v1/accounts/{added.json['id']}").status_code in (200, 204)
    expected = {
        "account-added": f"sending account audit-{unique}",
        "account-removed": f"sending account audit-{unique}",
        "pool-added": f"account pool pool-{unique}",
        "pool-removed": f"account pool pool-{unique}",
        "webhook-created": f"webhook {hook.json['id']}",
        "webhook-deleted": f"webhook {hook.json['id']}",
    }
    for action, target in expected.items():
        assert [e["target"] for e in trail(client, action=action, target=target)] == [target]
        page = client.get("/audit/", query_string={"action": action, "target": target})
        assert page.status_code == 200
        assert f'<option value="{action}" selected>' in page.get_data(as_text=True)
    with app.app_context(), force_locale("en"):
        english = {action: word(action) for action in ACTIONS}
    with app.app_context(), force_locale("vi"):
        vietnamese = {action: word(action) for action in ACTIONS}
    assert all(vietnamese[a] != english[a] for a in ACTIONS), vietnamese
    assert len(set(vietnamese.values())) == len(ACTIONS)  # no two actions read alike
    with app.app_context(), pytest.raises(ValueError, match="not an audit action"):
        record_event("account-deleted", "sending account x")
