"""`Idempotency-Key` on `POST /api/v1/emails` and `POST /api/v1/campaigns`: a client that sends
the same request again (after a timeout, say) gets the same job back and the recipient gets one
message, even when twenty copies arrive at once over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, insert, select, update
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from dashboard.config import engine_options
from dashboard.extensions import db
from dashboard.models import ApiToken, Campaign, IdempotencyKey, utcnow
from tests import engines
from tests.auth_helpers import make_user
from tests.concurrent_requests import fire_at_once
from tests.conftest import (
    AdminIdentity,
    AppFactory,
    app_config,
    authenticated_client_class,
    wait_for_final,
)
from tests.csv_campaign_helpers import csv_bytes, wait_for_import
from tests.smtp_server import ScriptedSMTPServer

HEADER = "Idempotency-Key"
DUPLICATES = 20


def email(unique: str, **changes: Any) -> dict[str, Any]:
    return {
        "to": [f"Trần Thị B <b-{unique}@example.vn>"],
        "subject": f"Mã xác nhận {unique}",
        "text": "Mã của bạn là 482913.\n",
        **changes,
    }


def campaigns_with_subject(app: Flask, subject: str) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Campaign.id).where(Campaign.subject == subject)))


def key_rows(app: Flask, key: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == key)
        )


def delivered_once(app: Flask, smtp_server: ScriptedSMTPServer, campaign_id: int, address: str):
    [message] = wait_for_final(app, campaign_id)
    assert message.status == "sent"
    assert len(smtp_server.received_by(address)) == 1


def test_a_retry_with_the_same_key_gets_the_same_answer_and_one_message_arrives(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    key = f"retry-{unique}"
    body = email(unique)
    first = client.post("/api/v1/emails", json=body, headers={HEADER: key})
    assert first.status_code == 202, first.json
    assert "Idempotent-Replayed" not in first.headers
    # The retry's JSON has its keys in another order and other spacing: the same request.
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=True)
    retry = client.post(
        "/api/v1/emails", data=reordered, content_type="application/json", headers={HEADER: key}
    )
    assert retry.status_code == 202, retry.json
    assert retry.get_data() == first.get_data()
    assert retry.headers["Location"] == first.headers["Location"] == first.json["status_url"]
    assert retry.headers["Idempotent-Replayed"] == "true"

    delivered_once(app, smtp_server, first.json["id"], f"b-{unique}@example.vn")
    assert campaigns_with_subject(app, body["subject"]) == [first.json["id"]]
    # Once the message is sent, a late retry still answers as the first request was answered.
    late = client.post("/api/v1/emails", json=body, headers={HEADER: f'"{key}"'})
    assert (late.status_code, late.get_data()) == (202, first.get_data())
    assert len(smtp_server.received_by(f"b-{unique}@example.vn")) == 1


def test_the_same_key_with_another_request_is_refused_naming_the_key(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    key = f"changed-{unique}"
    first = client.post("/api/v1/emails", json=email(unique), headers={HEADER: key})
    assert first.status_code == 202, first.json

    changed = client.post(
        "/api/v1/emails", json=email(unique, text="Mã của bạn là 000000.\n"), headers={HEADER: key}
    )
    assert changed.status_code == 422
    error = changed.json["error"]
    assert error["code"] == "idempotency_key_reused"
    assert key in error["message"] and "different request" in error["message"]
    assert set(error["fields"]) == {HEADER}

    # The other endpoint with the same key is another request too.
    upload = post_campaign(client, campaign_csv(unique), subject="Chào {{ name }}", key=key)
    assert upload.status_code == 422
    assert upload.json["error"]["code"] == "idempotency_key_reused"
    assert campaigns_with_subject(app, email(unique)["subject"]) == [first.json["id"]]
    assert campaigns_with_subject(app, "Chào {{ name }} " + unique) == []


def test_two_users_with_the_same_key_get_two_jobs(
    app: Flask,
    client: FlaskClient,
    anonymous_client: FlaskClient,
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    other = make_user(app, f"other-{unique}@example.com")
    key = "the-same-key-for-both"
    body = email(unique)
    mine = client.post("/api/v1/emails", json=body, headers={HEADER: key})
    theirs = anonymous_client.post(
        "/api/v1/emails",
        json=body,
        headers={HEADER: key, "Authorization": f"Bearer {other.token}"},
    )
    assert (mine.status_code, theirs.status_code) == (202, 202), (mine.json, theirs.json)
    assert mine.json["id"] != theirs.json["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    for campaign_id in (mine.json["id"], theirs.json["id"]):
        assert wait_for_final(app, campaign_id)[0].status == "sent"
    assert len(smtp_server.received_by(f"b-{unique}@example.vn")) == 2


def test_a_request_refused_on_its_fields_leaves_the_key_free(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    key = f"fix-and-retry-{unique}"
    refused = client.post(
        "/api/v1/emails", json=email(unique, to="not an address"), headers={HEADER: key}
    )
    assert refused.status_code == 422
    assert set(refused.json["error"]["fields"]) == {"to"}
    assert key_rows(app, key) == 0

    fixed = client.post("/api/v1/emails", json=email(unique), headers={HEADER: key})
    assert fixed.status_code == 202, fixed.json
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_key_older_than_a_day_is_a_new_key_and_expired_keys_are_purged(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    key, forgotten = f"old-{unique}", f"forgotten-{unique}"
    first = client.post("/api/v1/emails", json=email(unique), headers={HEADER: key})
    other = client.post("/api/v1/emails", json=email(unique + "x"), headers={HEADER: forgotten})
    assert (first.status_code, other.status_code) == (202, 202)
    with app.app_context():
        db.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_([key, forgotten]))
            .values(created_at=utcnow() - timedelta(hours=24, minutes=1))
        )
        db.session.commit()

    # Even with another request: the old key stands for nothing any more.
    again = client.post(
        "/api/v1/emails", json=email(unique, text="Một thư mới.\n"), headers={HEADER: key}
    )
    assert again.status_code == 202, again.json
    assert again.json["id"] != first.json["id"]
    assert "Idempotent-Replayed" not in again.headers
    assert key_rows(app, key) == 1
    assert key_rows(app, forgotten) == 0  # purged when the new key was stored

    # A key just under a day old still holds.
    with app.app_context():
        db.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(created_at=utcnow() - timedelta(hours=23, minutes=59))
        )
        db.session.commit()
    repeat = client.post(
        "/api/v1/emails", json=email(unique, text="Một thư mới.\n"), headers={HEADER: key}
    )
    assert (repeat.status_code, repeat.json["id"]) == (202, again.json["id"])


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("", "is empty"),
        ('""', "is empty"),
        ("k" * 256, "256 characters long; a key has at most 255"),
        ("clé-unique", "printable ASCII"),
        ("a\tb", "printable ASCII"),
        ("a,b", "may not hold a comma"),
        ('"a"b"', "double quote"),
    ],
)
def test_a_header_that_is_not_a_key_is_a_clear_400(
    app: Flask, client: FlaskClient, unique: str, header: str, problem: str
) -> None:
    body = email(unique)
    response = client.post("/api/v1/emails", json=body, headers={HEADER: header})
    assert response.status_code == 400
    error = response.json["error"]
    assert error["message"].startswith(f"The {HEADER} ") and problem in error["message"]
    assert problem in error["fields"][HEADER]
    assert campaigns_with_subject(app, body["subject"]) == []


def test_two_key_headers_are_refused(app: Flask, client: FlaskClient, unique: str) -> None:
    body = email(unique)
    response = client.post("/api/v1/emails", json=body, headers=[(HEADER, "a"), (HEADER, "b")])
    assert response.status_code == 400
    assert "send one header with one key" in response.json["error"]["message"]
    upload = post_campaign(client, campaign_csv(unique), headers=[(HEADER, "a"), (HEADER, "b")])
    assert upload.status_code == 400
    assert campaigns_with_subject(app, body["subject"]) == []


def campaign_csv(unique: str) -> bytes:
    return csv_bytes([["email", "name"], [f"c-{unique}@example.vn", "Lê Văn C"]])


def post_campaign(
    client: FlaskClient,
    data: bytes,
    *,
    subject: str = "Chào {{ name }}",
    key: str | None = None,
    headers: list[tuple[str, str]] | None = None,
):
    boundary, body = campaign_form(data, subject)
    return client.post(
        "/api/v1/campaigns",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=headers if headers is not None else ({HEADER: key} if key else {}),
    )


def campaign_form(data: bytes, subject: str) -> tuple[str, bytes]:
    return encode_multipart(
        {
            "file": FileStorage(
                io.BytesIO(data), filename="khach-hang.csv", content_type="text/csv"
            ),
            "subject": subject,
            "text": "Kính gửi {{ name }},\n\nThư mời.\n",
        }
    )


def test_a_campaign_upload_sent_again_gets_the_same_campaign(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    key, subject = f"upload-{unique}", f"Chào {{{{ name }}}} {unique}"
    first = post_campaign(client, campaign_csv(unique), subject=subject, key=key)
    assert first.status_code == 202, first.json
    retry = post_campaign(client, campaign_csv(unique), subject=subject, key=key)
    assert retry.status_code == 202, retry.json
    assert (retry.json["id"], retry.json["status_url"]) == (
        first.json["id"],
        first.json["status_url"],
    )
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"

    other_file = csv_bytes([["email", "name"], [f"d-{unique}@example.vn", "Lê Văn D"]])
    changed = post_campaign(client, other_file, subject=subject, key=key)
    assert changed.status_code == 422
    assert key in changed.json["error"]["message"]
    changed_field = post_campaign(client, campaign_csv(unique), subject=subject + "!", key=key)
    assert changed_field.status_code == 422
    assert campaigns_with_subject(app, subject) == [first.json["id"]]


def test_twenty_concurrent_duplicate_emails_make_one_job_and_one_message(
    app: Flask,
    live_url: str,
    admin_identity: AdminIdentity,
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    body = email(unique)
    answers = fire_at_once(
        f"{live_url}/api/v1/emails",
        json.dumps(body).encode(),
        {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {admin_identity.token}",
            HEADER: f"burst-{unique}",
        },
        DUPLICATES,
    )
    assert {status for status, _ in answers} == {202}, answers
    assert len({content for _, content in answers}) == 1  # byte for byte the same answer
    [campaign_id] = campaigns_with_subject(app, body["subject"])
    assert json.loads(answers[0][1])["id"] == campaign_id
    delivered_once(app, smtp_server, campaign_id, f"b-{unique}@example.vn")


def test_twenty_concurrent_duplicate_uploads_make_one_campaign_and_one_message(
    app: Flask,
    client: FlaskClient,
    live_url: str,
    admin_identity: AdminIdentity,
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    subject = f"Chào {{{{ name }}}} {unique}"
    boundary, form = campaign_form(campaign_csv(unique), subject)
    answers = fire_at_once(
        f"{live_url}/api/v1/campaigns",
        form,
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {admin_identity.token}",
            HEADER: f"burst-upload-{unique}",
        },
        DUPLICATES,
    )
    assert {status for status, _ in answers} == {202}, answers
    [campaign_id] = campaigns_with_subject(app, subject)
    assert {json.loads(content)["id"] for _, content in answers} == {campaign_id}
    assert len({json.loads(content)["status_url"] for _, content in answers}) == 1

    wait_for_import(client, campaign_id)
    confirmed = client.post(f"/api/v1/campaigns/{campaign_id}/confirm")
    assert confirmed.status_code == 200, confirmed.json
    delivered_once(app, smtp_server, campaign_id, f"c-{unique}@example.vn")


def test_a_duplicate_that_waits_too_long_for_the_first_is_told_to_retry(
    app: Flask,
    make_app: AppFactory,
    stack_settings: dict[str, str],
    admin_identity: AdminIdentity,
    unique: str,
) -> None:
    """The first request with the key holds its transaction open; the duplicate waits
    IDEMPOTENCY_WAIT_SECONDS (SQLite: its lock timeout), then gets a 409, and nothing of it
    stays. Once the first is gone, the same request goes through."""
    url = stack_settings["DATABASE_URL"]
    options = engine_options(url)
    if engines.TEST_DATABASE == "sqlite":
        options = {**options, "connect_args": {**options["connect_args"], "timeout": 1}}
    short_wait = make_app(
        {
            **app_config(stack_settings),
            "SQLALCHEMY_ENGINE_OPTIONS": options,
            "IDEMPOTENCY_WAIT_SECONDS": 1,
        }
    )
    short_wait.test_client_class = authenticated_client_class(admin_identity)
    client = short_wait.test_client()
    key, body = f"slow-{unique}", email(unique)
    # The gate notes a token's use (a write, when the last is a minute old): not under the lock.
    with app.app_context():
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == admin_identity.user_id)
            .values(last_used_at=utcnow())
        )
        db.session.commit()

    first = create_engine(url, **engine_options(url))
    try:
        with first.connect() as connection:
            holding = connection.begin()
            campaign_id = connection.execute(
                insert(Campaign.__table__)
                .values(
                    source="api",
                    queue="transactional",
                    from_address="noreply@example.com",
                    from_name="",
                    subject=f"the first request {unique}",
                    text_body="",
                    merge=False,
                    created_at=utcnow(),
                )
                .returning(Campaign.__table__.c.id)
            ).scalar_one()
            connection.execute(
                insert(IdempotencyKey.__table__).values(
                    user_id=admin_identity.user_id,
                    key=key,
                    request_hash="0" * 64,
                    campaign_id=campaign_id,
                    created_at=utcnow(),
                )
            )
            duplicate = client.post("/api/v1/emails", json=body, headers={HEADER: key})
            holding.rollback()
    finally:
        first.dispose()
    assert duplicate.status_code == 409, duplicate.json
    error = duplicate.json["error"]
    assert error["code"] == "idempotency_key_in_progress"
    assert "Retry it with the same key" in error["message"]
    assert campaigns_with_subject(app, body["subject"]) == []
    assert key_rows(app, key) == 0

    retried = client.post("/api/v1/emails", json=body, headers={HEADER: key})
    assert retried.status_code == 202, retried.json
    assert campaigns_with_subject(app, body["subject"]) == [retried.json["id"]]
