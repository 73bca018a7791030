"""Whose campaigns a person reads and changes: a sender their own, a viewer reads all and
changes none, an admin everything; pages and API alike (dashboard/auth/ownership.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.auth import SENDER, VIEWER
from dashboard.extensions import db
from dashboard.models import Campaign, Message
from dashboard.sending.requests import EmailContent, limits_context
from dashboard.sending.submission import submit_email
from tests.auth_helpers import PASSWORD, Person, form_csrf, make_user, sign_in


@dataclass(frozen=True)
class Member:
    person: Person
    browser: FlaskClient
    program: FlaskClient


def member(app: Flask, email: str, role: str) -> Member:
    person = make_user(app, email, role=role)
    browser = FlaskClient(app, app.response_class)
    assert sign_in(browser, person.email, PASSWORD).status_code == 302
    program = FlaskClient(app, app.response_class, use_cookies=False)
    program.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {person.token}"
    return Member(person, browser, program)


@dataclass(frozen=True)
class Cast:
    owner: Member
    other: Member
    viewer: Member
    campaign: int  # the owner's scheduled campaign
    message: int


@pytest.fixture
def cast(app: Flask, unique: str) -> Cast:
    owner = member(app, f"owner-{unique}@example.com", SENDER)
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    to = f"mine-{unique}@example.com"
    answer = owner.program.post(
        "/api/v1/emails", json={"to": to, "subject": f"mine {unique}", "text": "t", "send_at": due}
    )
    assert answer.status_code == 202, answer.json
    campaign = answer.json["id"]
    with app.app_context():
        message = db.session.scalars(
            db.select(Message.id).where(Message.campaign_id == campaign)
        ).one()
        assert db.session.get(Campaign, campaign).owner_id == owner.person.id
    return Cast(
        owner,
        member(app, f"other-{unique}@example.com", SENDER),
        member(app, f"viewer-{unique}@example.com", VIEWER),
        campaign,
        message,
    )


def status_of(app: Flask, campaign_id: int) -> str:
    with app.app_context():
        return db.session.get(Campaign, campaign_id).progress().status


def reads(who: Member, cast: Cast) -> list[int]:
    c, m = cast.campaign, cast.message
    return [
        who.browser.get(f"/campaigns/{c}").status_code,
        who.browser.get(f"/history/{m}").status_code,
        who.program.get(f"/api/v1/campaigns/{c}").status_code,
        who.program.get(f"/api/v1/emails/{c}").status_code,
    ]


def acts(who: Member, cast: Cast) -> list[int]:
    """Every way to change the campaign; none of them succeeds for who may not."""
    c, m = cast.campaign, cast.message
    csrf = form_csrf(who.browser, "/tokens")
    return [
        who.program.post(f"/api/v1/campaigns/{c}/cancel").status_code,
        who.program.post(f"/api/v1/campaigns/{c}/pause").status_code,
        who.program.post(f"/api/v1/campaigns/{c}/retry-failed").status_code,
        who.browser.post(f"/campaigns/{c}/cancel", data={"csrf_token": csrf}).status_code,
        who.browser.post(f"/campaigns/{c}/pause", data={"csrf_token": csrf}).status_code,
        who.browser.post(f"/history/{m}/cancel", data={"csrf_token": csrf}).status_code,
        who.browser.post(f"/history/{m}/retry", data={"csrf_token": csrf}).status_code,
        who.browser.post(f"/scheduled/{c}/cancel", data={"csrf_token": csrf}).status_code,
        who.browser.post(
            f"/scheduled/{c}/move", data={"csrf_token": csrf, "send_at": "2099-01-01T10:00"}
        ).status_code,
    ]


def test_another_sender_can_neither_read_nor_change_a_campaign(app: Flask, cast: Cast) -> None:
    assert reads(cast.other, cast) == [404] * 4
    assert acts(cast.other, cast) == [404] * 9
    assert status_of(app, cast.campaign) == "scheduled"
    for page in ("/campaigns/", "/scheduled/", "/history/"):
        html = cast.other.browser.get(page).get_data(as_text=True)
        assert f'/campaigns/{cast.campaign}"' not in html, page
        assert f'/history/{cast.message}"' not in html, page


def test_a_viewer_reads_every_campaign_and_changes_none(app: Flask, cast: Cast) -> None:
    assert reads(cast.viewer, cast) == [200] * 4
    assert acts(cast.viewer, cast) == [403] * 9
    assert status_of(app, cast.campaign) == "scheduled"
    html = cast.viewer.browser.get("/campaigns/").get_data(as_text=True)
    assert f'/campaigns/{cast.campaign}"' in html
    for page in (f"/campaigns/{cast.campaign}", "/scheduled/"):  # no button that would 403
        html = cast.viewer.browser.get(page).get_data(as_text=True)
        assert f"/campaigns/{cast.campaign}/cancel" not in html, page
        assert f"/scheduled/{cast.campaign}/cancel" not in html, page
    owners_page = cast.owner.browser.get(f"/campaigns/{cast.campaign}").get_data(as_text=True)
    assert f"/campaigns/{cast.campaign}/cancel" in owners_page


def test_the_owner_reads_and_cancels_their_campaign(app: Flask, cast: Cast) -> None:
    assert reads(cast.owner, cast) == [200] * 4
    assert f'/campaigns/{cast.campaign}"' in cast.owner.browser.get("/campaigns/").get_data(
        as_text=True
    )
    assert cast.owner.program.post(f"/api/v1/campaigns/{cast.campaign}/cancel").status_code == 200
    assert status_of(app, cast.campaign) == "cancelled"


def test_an_admin_changes_anyones_campaign(app: Flask, client: FlaskClient, cast: Cast) -> None:
    answer = client.post(
        f"/scheduled/{cast.campaign}/cancel", data={"csrf_token": form_csrf(client, "/scheduled/")}
    )
    assert answer.status_code == 303
    assert status_of(app, cast.campaign) == "cancelled"


def test_a_task_is_shown_only_to_who_may_read_its_messages(
    app: Flask, cast: Cast, client: FlaskClient, unique: str
) -> None:
    sent = cast.owner.program.post(
        "/api/v1/emails", json={"to": f"now-{unique}@example.com", "subject": "s", "text": "t"}
    )
    assert sent.status_code == 202
    with app.app_context():
        task_id = db.session.scalars(
            db.select(Message.task_id).where(Message.campaign_id == sent.json["id"])
        ).one()
    assert task_id
    assert cast.owner.program.get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert cast.viewer.program.get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert cast.other.program.get(f"/api/v1/tasks/{task_id}").status_code == 404


def test_a_campaign_from_the_console_belongs_to_nobody(
    app: Flask, client: FlaskClient, cast: Cast, unique: str
) -> None:
    with app.app_context():
        content = EmailContent.model_validate(
            {"to": f"console-{unique}@example.com", "subject": "s", "text": "t"},
            context=limits_context(app.config),
        )
        console = submit_email(content, source="cli").id
    assert cast.other.browser.get(f"/campaigns/{console}").status_code == 404
    assert cast.viewer.browser.get(f"/campaigns/{console}").status_code == 200
    assert client.get(f"/campaigns/{console}").status_code == 200
    with app.app_context():
        assert db.session.get(Campaign, console).owner_id is None


def test_statistics_list_only_the_campaigns_a_sender_may_read(app: Flask, cast: Cast) -> None:
    subject = f"mine {cast.owner.person.email.split('@')[0].removeprefix('owner-')}"
    assert subject in cast.owner.browser.get("/stats/?range=30d").get_data(as_text=True)
    assert subject in cast.viewer.browser.get("/stats/?range=30d").get_data(as_text=True)
    assert subject not in cast.other.browser.get("/stats/?range=30d").get_data(as_text=True)
    listed = cast.other.program.get("/api/v1/stats?range=30d").json["campaigns"]
    assert cast.campaign not in [row["id"] for row in listed]
    mine = cast.owner.program.get("/api/v1/stats?range=30d").json["campaigns"]
    assert cast.campaign in [row["id"] for row in mine]
