"""Rows written straight into the database for the history and statistics tests: whole
histories with chosen times and outcomes, which no SMTP run could produce on cue. Each sent_at
is counted in its hour, and a message sent twice listed, as the outcome handler would do
(`sending.sent_counts`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.models import Campaign, DeliveryAttempt, Message, utcnow
from dashboard.sending.sent_counts import add_duplicates, add_to_hours
from dashboard.sending.time_buckets import floor_to

WAITING_STATUSES = {"draft", "scheduled", "queued", "sending", "retrying"}


def seed_campaign(
    app: Flask,
    rows: Sequence[dict[str, Any]],
    *,
    subject: str = "Bản tin tháng 11",
    created_at: datetime | None = None,
    html: str | None = None,
) -> tuple[int, list[int]]:
    """One campaign with a message per row (keys: Message fields, plus `sent_attempts` and
    `failed_attempts`); returns the campaign id and the message ids in row order."""
    created_at = created_at or utcnow()
    # Seeded rows that wait (queued, scheduled, ...) would be sent for real by the session's
    # sweeper and dispatcher, into other tests' mailboxes: their campaign is held, so never.
    waiting = any(row.get("status") in WAITING_STATUSES for row in rows)
    with app.app_context():
        campaign = Campaign(
            paused_at=created_at if waiting else None,
            pause_reason="Seeded by a test: never sent." if waiting else None,
            source="api",
            from_address="dispatcher@example.com",
            from_name="Hệ thống Gửi thư",
            subject=subject,
            text_body="Kính gửi quý khách,\nĐây là bản tin.",
            html_body=html,
            created_at=created_at,
        )
        db.session.add(campaign)
        messages = []
        for index, row in enumerate(rows):
            row = dict(row)
            sent_attempts = row.pop("sent_attempts", 0)
            failed_attempts = row.pop("failed_attempts", 0)
            message = Message(
                campaign=campaign,
                message_id_header=f"<seed-{index}-{id(campaign)}@example.com>",
                created_at=row.pop("created_at", created_at),
                **row,
            )
            message.attempts_log = [
                DeliveryAttempt(outcome="sent", smtp_code=250, smtp_reply="2.0.0 Ok", worker="w1")
                for _ in range(sent_attempts)
            ] + [
                DeliveryAttempt(
                    outcome="permanent", smtp_code=550, smtp_reply="5.1.1 unknown", worker="w1"
                )
                for _ in range(failed_attempts)
            ]
            messages.append(message)
        db.session.add_all(messages)
        db.session.flush()
        # What the outcome handler does when it writes a sent_at: count it in its hour, and
        # list a message sent more than once.
        add_to_hours(
            Counter(floor_to(m.sent_at, "hour") for m in messages if m.sent_at is not None)
        )
        add_duplicates(
            [m.id for m in messages if sum(a.outcome == "sent" for a in m.attempts_log) > 1]
        )
        db.session.commit()
        return campaign.id, [message.id for message in messages]


def shown_ids(html: str) -> list[int]:
    """The message ids in a history table, in the order shown."""
    return [int(found) for found in re.findall(r'<tr id="history-(\d+)"', html)]


def link(html: str, rel_id: str) -> str | None:
    """The href of the pager link with this id, unescaped."""
    match = re.search(rf'<a href="([^"]+)"[^>]*id="{rel_id}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def csrf_from(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)
