"""Stored XSS: what people and SMTP servers type is shown as text on every page of this branch
(jobs, job status, caught mail, tokens, users); an HTML body only in a script-less sandbox."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.models import CaughtMail
from tests.auth_helpers import form_csrf
from tests.conftest import wait_for_final
from tests.smtp_server import ScriptedSMTPServer

SUBJECT = '<script>alert("subject")</script><img src=x onerror=alert(1)>'
NAME = "Tom & Jerry' onmouseover='alert(1)"
SMTP_REPLY = '550 5.1.1 <script>alert("smtp")</script> no such user'
HTML_BODY = '<p>hi</p><script>alert("html")</script><img src=x onerror=alert("img")>'
TOKEN_NAME = '<script>alert("token")</script>'


@dataclass(frozen=True)
class HostileData:
    job_id: int
    caught_id: int


def plant_hostile_data(app: Flask, client: FlaskClient, smtp: ScriptedSMTPServer, tag: str):
    """A failed job whose subject, name and SMTP reply are hostile, a caught mail with a hostile
    HTML body, and a token with a hostile name."""
    refused, taken = f"refused-{tag}@example.com", f"taken-{tag}@example.com"
    smtp.script.rcpt_replies[refused] = SMTP_REPLY
    response = client.post(
        "/api/v1/emails",
        json={
            "to": [f'"{NAME}" <{refused}>', taken],
            "subject": SUBJECT,
            "text": "t",
            "html": HTML_BODY,
        },
    )
    assert response.status_code == 202, response.json
    job_id = response.json["id"]
    messages = wait_for_final(app, job_id)
    assert {m.last_code for m in messages} == {550, 250}
    [received] = smtp.received_by(taken)
    with app.app_context():
        caught = CaughtMail(
            mail_from=f'"<script>"@{tag}.example.com',
            rcpt_tos=json.dumps(['<img src=x onerror=alert("rcpt")>']),
            subject=SUBJECT,
            raw=received.raw,
        )
        db.session.add(caught)
        db.session.commit()
        caught_id = caught.id
    created = client.post(
        "/tokens", data={"csrf_token": form_csrf(client, "/tokens"), "name": TOKEN_NAME}
    )
    assert created.status_code == 303  # redirected: a reload makes no second token
    return HostileData(job_id, caught_id)


@pytest.fixture
def hostile(app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str):
    return plant_hostile_data(app, client, smtp_server, unique)


def test_hostile_text_is_escaped_on_every_page(client: FlaskClient, hostile: HostileData) -> None:
    pages = {
        "/campaigns/": [SUBJECT],
        f"/campaigns/{hostile.job_id}": [SUBJECT, NAME, SMTP_REPLY.removeprefix("550 ")],
        "/outbox/": [SUBJECT],
        f"/outbox/{hostile.caught_id}": [SUBJECT],
        "/tokens": [TOKEN_NAME],
        "/users": [],
    }
    for path, shown in pages.items():
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page, path
        assert "<img src=x onerror" not in page, path
        for text in shown:
            escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            escaped = escaped.replace('"', "&#34;").replace("'", "&#39;")
            assert escaped in page, f"{text!r} not shown as text on {path}"
    partial = client.get(f"/campaigns/{hostile.job_id}", headers={"HX-Request": "true"})
    assert "<script>alert" not in partial.get_data(as_text=True)


def test_html_bodies_are_shown_only_in_a_sandbox_without_scripts(
    client: FlaskClient, hostile: HostileData
) -> None:
    page = client.get(f"/outbox/{hostile.caught_id}").get_data(as_text=True)
    [iframe] = re.findall(r"<iframe[^>]*>", page)
    assert re.search(r"\ssandbox(\s|>)", iframe), "the iframe must carry a bare sandbox"
    assert "allow-scripts" not in iframe and "allow-same-origin" not in iframe
    [src] = re.findall(r'\ssrc="([^"]+)"', iframe)
    body = client.get(src)
    assert '<script>alert("html")</script>' in body.get_data(as_text=True)
    policy = body.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    raw = client.get(f"/outbox/{hostile.caught_id}/raw")
    assert raw.mimetype == "text/plain"
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
