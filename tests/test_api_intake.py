"""Many single emails posted at the same moment to one process (the group commit of
`sending.intake` writes them together and publishes them as shared tasks): each gets its own
202 and its own campaign, every one is stored before its answer, each recipient gets exactly
their own message once, and the audit log says who sent each."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import AuditEvent, Campaign, Message, utcnow
from tests.conftest import AdminIdentity, wait_for_final
from tests.smtp_server import ScriptedSMTPServer

AT_ONCE = 24


def _email_request(live_url: str, token: str, body: dict) -> urllib.request.Request:
    """`POST /api/v1/emails` of `body`, with the API token."""
    return urllib.request.Request(
        f"{live_url}/api/v1/emails",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )


def test_emails_posted_at_once_are_each_stored_answered_and_sent_once(
    app: Flask,
    live_url: str,
    admin_identity: AdminIdentity,
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    began = utcnow()  # SQLite gives a deleted campaign's id again: its audit events stay
    start = threading.Barrier(AT_ONCE)

    def post(number: int) -> tuple[int, dict, str]:
        body = {
            "to": f"Người nhận {number} <n{number}-{unique}@example.vn>",
            "subject": f"Mã số {number} của bạn — {unique}",
            "text": f"Mã của bạn là {number:06}.\n",
        }
        request = _email_request(live_url, admin_identity.token, body)
        start.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                return response.status, json.loads(response.read()), response.headers["Location"]
        except urllib.error.HTTPError as error:
            return error.code, {"error": error.read().decode()}, ""

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        answers = list(pool.map(post, range(AT_ONCE)))

    assert [status for status, _, _ in answers] == [202] * AT_ONCE, answers
    ids = [answer["id"] for _, answer, _ in answers]
    assert len(set(ids)) == AT_ONCE
    for (_, answer, location), campaign_id in zip(answers, ids, strict=True):
        assert answer["status"] == "queued" and answer["recipients"] == 1
        assert location == answer["status_url"]
        assert location.endswith(f"/api/v1/emails/{campaign_id}")

    for number, campaign_id in enumerate(ids):
        [message] = wait_for_final(app, campaign_id)
        assert message.status == "sent"
        assert message.to_address == f"n{number}-{unique}@example.vn"
        [received] = smtp_server.received_by(message.to_address)
        assert received.message["Subject"] == f"Mã số {number} của bạn — {unique}"
        assert received.message["To"] == f"Người nhận {number} <{message.to_address}>"
        assert received.message.get_content() == f"Mã của bạn là {number:06}.\r\n"
    with app.app_context():
        campaigns = db.session.scalars(select(Campaign).where(Campaign.id.in_(ids))).all()
        assert {c.source for c in campaigns} == {"api"}
        assert {c.owner_id for c in campaigns} == {admin_identity.user_id}
        task_ids = db.session.scalars(
            select(Message.task_id).where(Message.campaign_id.in_(ids))
        ).all()
        assert all(task_ids)
        events = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.target.in_([f"campaign {i}" for i in ids]),
                AuditEvent.action == "sent",
                AuditEvent.at >= began,
            )
        ).all()
        assert sorted(e.target for e in events) == sorted(f"campaign {i}" for i in ids)
        assert {(e.actor, e.detail) for e in events} == {
            (admin_identity.email, "1 recipient(s) from api")
        }
        db.session.rollback()


def test_emails_of_several_recipients_written_together_each_keep_their_own(
    app: Flask, live_url: str, admin_identity: AdminIdentity, unique: str
) -> None:
    """A group holds emails of one, two and three recipients: each campaign gets exactly its own
    recipients, names and subject, and its own audit event."""
    senders = 12
    began = utcnow()  # SQLite gives a deleted campaign's id again: its audit events stay
    start = threading.Barrier(senders)

    def recipients(number: int) -> list[str]:
        return [
            f"Khách {number}.{k} <k{number}-{k}-{unique}@example.vn>" for k in range(number % 3 + 1)
        ]

    def post(number: int) -> dict:
        body = {"to": recipients(number), "subject": f"Thư {number} — {unique}", "text": "Chào\n"}
        request = _email_request(live_url, admin_identity.token, body)
        start.wait(timeout=30)
        with urllib.request.urlopen(request, timeout=90) as response:
            assert response.status == 202
            return json.loads(response.read())

    with ThreadPoolExecutor(max_workers=senders) as pool:
        answers = list(pool.map(post, range(senders)))

    with app.app_context():
        for number, answer in enumerate(answers):
            campaign = db.session.get(Campaign, answer["id"])
            assert campaign is not None and campaign.subject == f"Thư {number} — {unique}"
            stored = db.session.scalars(
                select(Message).where(Message.campaign_id == campaign.id).order_by(Message.id)
            ).all()
            assert [f"{m.to_name} <{m.to_address}>" for m in stored] == recipients(number)
            assert answer["recipients"] == len(stored)
            [event] = db.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target == f"campaign {campaign.id}", AuditEvent.at >= began
                )
            ).all()
            assert event.detail == f"{len(stored)} recipient(s) from api"
        db.session.rollback()
