"""An id once given is never given again: deleting the newest draft, webhook or sending account
does not hand its id to the next one (on SQLite as on PostgreSQL), and the migration that made
SQLite's tables AUTOINCREMENT rebuilds them without losing a row, an index or a foreign key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, text

from dashboard.extensions import db
from dashboard.models import (
    AccountPool,
    Campaign,
    CaughtMail,
    CsvImport,
    DeliveryAttempt,
    Message,
    PoolMember,
    SendingAccount,
    Suppression,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from tests.auth_helpers import form_csrf
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.test_migrations import flask_db

BEFORE = "b9d4e2a7c168"  # the revision before SQLite's tables became AUTOINCREMENT
REBUILT = (
    CaughtMail,
    Campaign,
    Message,
    CsvImport,
    Suppression,
    SendingAccount,
    AccountPool,
    WebhookEndpoint,
    WebhookDelivery,
)


def _draft(client: FlaskClient, unique: str) -> int:
    rows = [["email", "name"], [f"a-{unique}@example.vn", "Lan"], [f"b-{unique}@example.vn", "Hà"]]
    body = imported(client, csv_bytes(rows), subject="Chào {{ name }}", text="Xin chào")
    assert body["import"]["status"] == "ready", body
    return body["id"]


def _message_ids(app: Flask, campaign_id: int) -> list[int]:
    with app.app_context():
        query = select(Message.id).where(Message.campaign_id == campaign_id)
        return list(db.session.scalars(query.order_by(Message.id)))


def test_a_deleted_newest_draft_and_webhook_leave_their_ids_unused(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    deleted = _draft(client, unique + "d")
    deleted_messages = _message_ids(app, deleted)
    token = form_csrf(client, f"/campaigns/{deleted}")
    assert (
        client.post(f"/campaigns/{deleted}/delete", data={"csrf_token": token}).status_code == 302
    )
    audit = client.get("/audit/?action=draft-deleted").get_data(as_text=True)
    assert f"campaign {deleted}" in audit

    following = _draft(client, unique + "f")
    assert following > deleted  # not the deleted draft's id, which the Audit page names
    assert min(_message_ids(app, following)) > max(deleted_messages)

    hook = {"url": "http://127.0.0.1:9/hook", "events": ["sent"]}
    first = client.post("/api/v1/webhooks", json=hook)
    assert first.status_code == 201, first.json
    assert client.delete(f"/api/v1/webhooks/{first.json['id']}").status_code == 204
    second = client.post("/api/v1/webhooks", json=hook)
    assert second.status_code == 201 and second.json["id"] > first.json["id"]
    assert client.get(f"/api/v1/webhooks/{first.json['id']}").status_code == 404


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url)
    event.listen(
        engine, "connect", lambda connection, _: connection.execute("PRAGMA foreign_keys=ON")
    )
    return engine


def _seed(connection: Connection, unique: str) -> None:
    """A row in every rebuilt table, and children that point at them."""

    def add(model: type, **values: Any) -> int:
        return connection.execute(insert(model).values(**values).returning(model.id)).scalar_one()

    user = add(User, email=f"u-{unique}@example.vn", password_hash="x")
    for n in range(2):
        campaign = add(
            Campaign, source="api", from_address="a@example.vn", subject=f"Thư {n}", text_body="t"
        )
        add(CsvImport, campaign_id=campaign, filename="ds.csv", encoding="utf-8", delimiter=",")
        message = add(
            Message,
            campaign_id=campaign,
            to_address=f"m{n}@example.vn",
            to_name="Lan",
            status="sent",
            attempts=1,
            message_id_header=f"<{n}-{unique}@example.vn>",
        )
        add(DeliveryAttempt, message_id=message, outcome="sent", smtp_code=250)
        endpoint = add(
            WebhookEndpoint, owner_id=user, url="http://127.0.0.1:9/", events="sent", secret="s"
        )
        add(
            WebhookDelivery,
            endpoint_id=endpoint,
            message_id=message,
            event="sent",
            event_id=f"e{n}",
            retry_until=utcnow(),
            payload="{}",
        )
    add(Suppression, address=f"s-{unique}@example.vn", reason="manual")
    _catch(connection, "hoá đơn tháng 11")
    account = add(SendingAccount, name=f"acct-{unique}", host="127.0.0.1", port=25)
    pool = add(AccountPool, name=f"pool-{unique}")
    connection.execute(insert(PoolMember).values(pool_id=pool, account_id=account))


def _catch(connection: Connection, subject: str) -> int:
    values = {"mail_from": "a@example.vn", "rcpt_tos": "b@example.vn", "raw": b"Subject: x"}
    caught = insert(CaughtMail).values(subject=subject, search_text=subject, **values)
    return connection.execute(caught.returning(CaughtMail.id)).scalar_one()


def _found(connection: Connection, words: str) -> list[int]:
    """Caught mail found by the search's own index, which its triggers keep."""
    query = "SELECT rowid FROM caught_mail_fts WHERE caught_mail_fts MATCH :words ORDER BY rowid"
    return list(connection.scalars(text(query), {"words": f'"{words}"'}))


def _contents(connection: Connection) -> dict[str, list[tuple]]:
    """Every table's rows (SQLite's and alembic's bookkeeping aside)."""
    tables = connection.scalars(
        text(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT IN ('sqlite_sequence', 'alembic_version')"
        )
    )
    return {
        table: sorted(map(tuple, connection.execute(text(f'SELECT * FROM "{table}"'))), key=repr)
        for table in tables
    }


def _dependents(connection: Connection) -> set[tuple[str, str]]:
    """Every index and trigger as its SQL declares it (partial and expression ones included)."""
    query = "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
    return {tuple(row) for row in connection.execute(text(query))}


def _autoincrement_tables(connection: Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'"
    return set(connection.scalars(text(query)))


def _next_campaign_after_deleting_the_newest(connection: Connection) -> tuple[int, int]:
    newest = connection.scalar(select(Campaign.id).order_by(Campaign.id.desc()).limit(1))
    connection.execute(delete(Campaign).where(Campaign.id == newest))
    values = {"source": "api", "from_address": "a@example.vn", "subject": "s", "text_body": "t"}
    following = connection.execute(insert(Campaign).values(**values).returning(Campaign.id))
    return newest, following.scalar_one()


def test_the_sqlite_rebuild_keeps_every_row_index_and_key_and_ids_are_not_reused(
    tmp_path: Path, unique: str
) -> None:
    url = f"sqlite:///{tmp_path / 'ids.db'}"
    flask_db(url, tmp_path, "upgrade", BEFORE)
    engine = _sqlite_engine(url)
    try:
        with engine.begin() as connection:
            _seed(connection, unique)
            # Before: the deleted newest campaign's id goes to the next one.
            deleted, following = _next_campaign_after_deleting_the_newest(connection)
            assert following == deleted
            rows, dependents = _contents(connection), _dependents(connection)
            assert _autoincrement_tables(connection) == set()
        engine.dispose()

        flask_db(url, tmp_path, "upgrade")
        with engine.begin() as connection:
            assert _autoincrement_tables(connection) == {model.__tablename__ for model in REBUILT}
            assert _contents(connection) == rows
            assert _dependents(connection) == dependents
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
            deleted, following = _next_campaign_after_deleting_the_newest(connection)
            assert following == deleted + 1
            # The search's triggers came back with the table: a new mail is found, the old too.
            [old_mail] = _found(connection, "tháng 11")
            new_mail = _catch(connection, "hoá đơn tháng 12")
            assert _found(connection, "hoá đơn") == [old_mail, new_mail]
            rows = _contents(connection)
        engine.dispose()

        flask_db(url, tmp_path, "downgrade", BEFORE)
        with engine.begin() as connection:
            assert _autoincrement_tables(connection) == set()
            assert _contents(connection) == rows
            assert _dependents(connection) == dependents
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        engine.dispose()
