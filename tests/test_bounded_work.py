"""Bounded work for every input (issue 16): each reproduction from the hostile test is here, and
each met a 500, a worker grown by hundreds of MB or a page that broke for everyone. Now each is
a clear error naming its field, line or row, and the work it costs has a limit."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text, update
from werkzeug.datastructures import FileStorage

from dashboard.config import engine_options
from dashboard.extensions import db
from dashboard.mail.merge import TemplateProblem, check_merge, compile_merge
from dashboard.models import Campaign, Message, MessageTemplate
from dashboard.reporting.csv_cells import spreadsheet_safe
from dashboard.sending.suppression import suppressed_among
from tests.conftest import AppFactory, app_config, count_rows, wait_for_final
from tests.csv_campaign_helpers import csv_bytes, imported, post_multipart, upload
from tests.test_campaign_pages import token_on

# --- Merge output and template complexity -------------------------------------------------


def test_merge_output_stops_at_the_cap_while_rendering() -> None:
    template = compile_merge("Chào {{ v[:10] }}", "{{v}}" * 500, None)  # 2.5 KB of template
    with pytest.raises(TemplateProblem) as refused:
        template.render({"v": "x" * 100_000})  # 50 MB if rendered whole
    assert refused.value.field == "text"
    assert "larger than 1,048,576 bytes" in str(refused.value)
    assert "MERGE_MAX_RENDERED_BYTES" in str(refused.value)
    # The cap counts UTF-8 bytes of subject and bodies together, and is the caller's to set.
    small = compile_merge("{{ v }}", "{{ v }}", "<p>{{ v }}</p>")
    assert small.render({"v": "ơ" * 10}, max_bytes=67).html == "<p>" + "ơ" * 10 + "</p>"
    with pytest.raises(TemplateProblem) as html_over:
        small.render({"v": "ơ" * 10}, max_bytes=66)
    assert html_over.value.field == "html"


def test_a_campaign_over_the_cap_is_refused_on_the_preview_and_per_recipient_when_sent(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    big, fine = f"big-{unique}@example.vn", f"fine-{unique}@example.vn"
    body = imported(
        client,
        csv_bytes([["email", "v"], [big, "x" * 100_000], [fine, "ngắn"]]),
        subject="Thư cho {{ email }}",
        text="{{v}}" * 500,
    )
    assert body["import"]["status"] == "ready", body
    [over, ok] = body["preview"]
    assert over["to"] == big and "larger than 1,048,576 bytes" in over["error"]
    assert ok["to"] == fine and ok["text"].rstrip("\n") == "ngắn" * 500
    page = client.get(f"/campaigns/{body['id']}").get_data(as_text=True)
    assert f"To {big}: cannot be rendered: Text body: the message would be larger" in page

    confirmed = client.post(f"/api/v1/campaigns/{body['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.json
    by_address = {m.to_address: m for m in wait_for_final(app, body["id"], timeout=60)}
    assert by_address[fine].status == "sent"
    assert by_address[big].status == "failed"
    assert "MERGE_MAX_RENDERED_BYTES" in by_address[big].last_reply


COMPLEX_TEMPLATES = {
    "a 5,000-digit number": "{{ " + "9" * 5000 + " }}",
    "500 nested parentheses": "{{ " + "(" * 500 + "name" + ")" * 500 + " }}",
    "200 nested ifs": "{% if name %}" * 200 + "x" + "{% endif %}" * 200,
    "a 20,000-term + chain": "{{ " + " + ".join(["name"] * 20_000) + " }}",
}
COMPLEX_REASONS = ("digits", "levels of nesting", "levels of nesting", "is too long")


@pytest.mark.parametrize(
    ("source", "reason"), list(zip(COMPLEX_TEMPLATES.values(), COMPLEX_REASONS, strict=True))
)
def test_complex_templates_are_refused_by_name_on_every_page_and_the_api(
    app: Flask, client: FlaskClient, source: str, reason: str, unique: str
) -> None:
    with pytest.raises(TemplateProblem) as refused:
        compile_merge("Chào", source, None)
    assert refused.value.field == "text" and reason in str(refused.value)

    before = count_rows(app, MessageTemplate), count_rows(app, Campaign)
    page = client.get("/templates/new").get_data(as_text=True)
    saved = client.post(
        "/templates/new",
        data={"csrf_token": token_on(page), "name": f"t-{unique}", "subject": "s", "text": source},
    )
    assert saved.status_code == 422 and reason in saved.get_data(as_text=True)

    composed = client.post(
        "/",
        data={
            "csrf_token": token_on(client.get("/").get_data(as_text=True)),
            "to": f"an-{unique}@example.vn",
            "subject": "Chào {{ name }}",
            "text": source,
        },
    )
    assert composed.status_code == 422 and reason in composed.get_data(as_text=True)

    api = upload(client, b"email,name\r\nan@example.vn,An\r\n", text=source)
    assert api.status_code == 422 and reason in api.json["error"]["fields"]["text"]
    assert (count_rows(app, MessageTemplate), count_rows(app, Campaign)) == before


def test_methods_of_values_are_refused_not_shown_as_a_function_repr() -> None:
    for source in ("{{ email.format }}", "{{ name['upper'] }}", "{{ name.encode }}"):
        [problem] = check_merge(compile_merge("Chào", source, None), ["name"])
        assert "refused by the sandbox" in str(problem), source
    # Values, their items and slices still work.
    assert compile_merge("s", "{{ name[0] }}{{ name[1:] }}", None).render({"name": "An"}).text == (
        "An"
    )


# --- CSV rows -----------------------------------------------------------------------------


def test_a_very_wide_row_fails_the_import_naming_its_line_without_reading_it_whole(
    client: FlaskClient, unique: str
) -> None:
    data = f"email,name\r\nan-{unique}@example.vn,An\r\nb@example.vn".encode() + b"," * 3_000_000
    body = imported(client, data + b"\r\n")
    report = body["import"]
    assert report["status"] == "failed", report
    assert "line 3" in report["error"] and "CSV_MAX_ROW_KB" in report["error"]
    assert body["total"] == 0  # nothing half-imported


def test_a_header_of_more_than_the_column_limit_is_refused_at_upload(
    app: Flask, client: FlaskClient
) -> None:
    before = count_rows(app, Campaign)
    header = ["email"] + [f"c{i}" for i in range(1000)]
    response = upload(client, csv_bytes([header, ["an@example.vn"] + ["x"] * 1000]))
    assert response.status_code == 422
    assert "1,001 columns" in response.json["error"]["fields"]["file"]
    assert "CSV_MAX_FIELDS" in response.json["error"]["fields"]["file"]
    assert count_rows(app, Campaign) == before


def test_a_suppression_list_with_a_huge_field_is_a_clear_422(client: FlaskClient) -> None:
    page = client.get("/suppressions/").get_data(as_text=True)
    data = b"email,note\r\nan@example.vn," + b"x" * 200_000 + b"\r\n"
    response = post_multipart(
        client,
        "/suppressions/",
        {
            "csrf_token": token_on(page),
            "addresses": "",
            "reason": "manual",
            "file": FileStorage(io.BytesIO(data), filename="list.csv", content_type="text/csv"),
        },
    )
    assert response.status_code == 422
    assert "Line 2 cannot be read" in response.get_data(as_text=True)


def test_a_suppression_list_s_bad_addresses_are_named_where_they_were_written(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    """Addresses typed in the box are named by their entry, those of the file by its line
    (under the file), all at once; nothing is added."""
    page = client.get("/suppressions/").get_data(as_text=True)
    data = f"email,note\r\nok-{unique}@example.vn,x\r\nbad1,y\r\n\r\nbad2@,z\r\n".encode()
    response = post_multipart(
        client,
        "/suppressions/",
        {
            "csrf_token": token_on(page),
            "addresses": f"typed-{unique}@example.vn\nnot-an-address",
            "reason": "manual",
            "file": FileStorage(io.BytesIO(data), filename="list.csv", content_type="text/csv"),
        },
    )
    assert response.status_code == 422
    said = html.unescape(response.get_data(as_text=True))
    assert "entry 2: 'not-an-address' is not a valid address" in said
    assert "line 3 of the file: 'bad1' is not a valid address" in said
    assert "line 5 of the file: 'bad2@' is not a valid address" in said
    with app.app_context():
        assert suppressed_among([f"ok-{unique}@example.vn", f"typed-{unique}@example.vn"]) == set()


# --- Formulas in the CSVs the app writes ---------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["=1+2", "+1", "-1", "@SUM(A1)", "\t=1+2", "\r=1+2", " =1+2", "\t =cmd", "\n=1", "\uff1d1+2"],
)
def test_every_formula_start_is_neutralised(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


def test_plain_cells_are_left_alone() -> None:
    for cell in ("", "an@example.vn", "Nguyễn Văn A", "1+2", "a=b"):
        assert spreadsheet_safe(cell) == cell


def test_invalid_rows_csv_neutralises_a_tab_then_equals(client: FlaskClient) -> None:
    payload = '\t=HYPERLINK("http://127.0.0.1/x","bấm")'
    body = imported(client, csv_bytes([["email", "name"], [payload, "An"]]))
    assert body["import"]["invalid"] == 1
    download = client.get(f"/campaigns/{body['id']}/invalid-rows.csv").get_data(as_text=True)
    [_header, row] = list(csv.reader(io.StringIO(download)))
    assert row[1] == "'" + payload


# --- Dates --------------------------------------------------------------------------------

EMAIL = {"to": "later@example.com", "subject": "s", "text": "t"}


@pytest.mark.parametrize(
    "send_at",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "9999-12-31T00:00:00Z"],
)
def test_send_at_outside_the_range_is_a_422_naming_the_field(
    app: Flask, client: FlaskClient, send_at: str
) -> None:
    before = count_rows(app, Campaign)
    response = client.post("/api/v1/emails", json={**EMAIL, "send_at": send_at})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "send_at" in response.json["error"]["fields"]
    assert count_rows(app, Campaign) == before


def test_send_at_more_than_ten_years_ahead_is_refused(client: FlaskClient) -> None:
    far = (datetime.now(UTC) + timedelta(days=3660)).isoformat()
    response = client.post("/api/v1/emails", json={**EMAIL, "send_at": far})
    assert response.status_code == 422
    assert "years ahead" in response.json["error"]["fields"]["send_at"]


def test_statistics_and_history_refuse_dates_they_cannot_show(client: FlaskClient) -> None:
    stats = client.get("/api/v1/stats?since=0001-01-01&until=9999-12-31")
    assert stats.status_code == 422
    assert {"since", "until"} <= set(stats.json["error"]["fields"])
    page = client.get("/stats/?since=9999-12-31T23:59")
    assert page.status_code == 422 and "out of range" in page.get_data(as_text=True)
    history = client.get("/history/?since=0001-01-01&until=9999-12-31")
    assert history.status_code == 422 and "out of range" in history.get_data(as_text=True)
    # A range within the years but of thousands of days is cut, not listed day by day.
    wide = client.get("/api/v1/stats?since=1900-01-01&until=9998-12-31")
    assert wide.status_code == 422 and "at most 400 days" in wide.json["error"]["fields"]["since"]


def test_a_job_stored_for_year_9999_does_not_break_the_scheduled_pages(
    app: Flask, client: FlaskClient
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = client.post("/api/v1/emails", json={**EMAIL, "send_at": soon})
    assert created.status_code == 202, created.json
    campaign_id = created.json["id"]
    far = datetime(9999, 12, 31, 23, 30)  # as a row stored before times were range-checked
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(send_at=far))
        db.session.execute(
            update(Message).where(Message.campaign_id == campaign_id).values(next_attempt_at=far)
        )
        db.session.commit()
    app.config["DISPLAY_TIMEZONE"] = "Asia/Ho_Chi_Minh"
    try:
        listing = client.get("/scheduled/")
        assert listing.status_code == 200
        assert "9999-12-31 23:30" in listing.get_data(as_text=True)
        assert client.get(f"/campaigns/{campaign_id}").status_code == 200
    finally:
        assert client.post(f"/api/v1/campaigns/{campaign_id}/cancel").status_code == 200


# --- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [32, 400, 950, 40_000])
def test_deeply_nested_json_is_a_400_before_it_is_parsed(client: FlaskClient, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = '{"to": "x@example.com", "subject": "s", "text": "t", "extra": ' + nested + "}"
    response = client.post("/api/v1/emails", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "nested more than 32 levels" in response.json["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(client: FlaskClient) -> None:
    body = {**EMAIL, "to": "not an address", "text": "[" * 1000 + "}" * 1000}
    response = client.post("/api/v1/emails", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422  # read and validated: only the address is wrong
    assert set(response.json["error"]["fields"]) == {"to"}


# --- The rest of item 10 ------------------------------------------------------------------


def test_the_sqlite_database_and_its_wal_files_are_owner_only(
    stack_settings: dict[str, str], make_app: AppFactory, tmp_path: Path
) -> None:
    previous = os.umask(0o022)  # the usual umask, under which SQLite made files 0644
    try:
        path = tmp_path / "fresh.db"
        url = f"sqlite:///{path}"
        config = {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url)}
        app = make_app({**app_config(stack_settings), **config})
        with app.app_context():
            db.session.execute(text("CREATE TABLE t (x integer)"))
            db.session.execute(text("INSERT INTO t VALUES (1)"))
            db.session.commit()
            for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                assert name.exists(), name
                assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    finally:
        os.umask(previous)


def test_readyz_shows_no_path_and_no_user(
    anonymous_client: FlaskClient, stack_settings: dict[str, str]
) -> None:
    answer = anonymous_client.get("/readyz")
    target = answer.json["checks"]["database"]["target"]
    assert target == "sqlite" or target.startswith("postgresql://127.0.0.1")
    assert "@" not in target  # no user name, no password
    if target == "sqlite":
        path = stack_settings["DATABASE_URL"].removeprefix("sqlite:///")
        assert os.path.dirname(path) not in answer.get_data(as_text=True)


def test_bidi_controls_are_refused_in_names_and_file_names(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    before = count_rows(app, Campaign)
    attachment = {"filename": "invoice\u202efdp.exe", "content_base64": "aGk="}
    response = client.post("/api/v1/emails", json={**EMAIL, "attachments": [attachment]})
    assert response.status_code == 422
    assert "U+202E" in response.json["error"]["fields"]["attachments.0.filename"]
    named = client.post("/api/v1/emails", json={**EMAIL, "to": "An\u2067 Admin <a@example.com>"})
    assert named.status_code == 422 and "U+2067" in named.json["error"]["fields"]["to"]
    marked = client.post("/api/v1/emails", json={**EMAIL, "to": "An\u200f Admin <a@example.com>"})
    assert marked.status_code == 422 and "U+200F" in marked.json["error"]["fields"]["to"]

    form = {
        "csrf_token": token_on(client.get("/").get_data(as_text=True)),
        "to": f"an-{unique}@example.vn",
        "subject": "s",
        "text": "t",
        "attachments": FileStorage(io.BytesIO(b"x"), filename="report\u202excod.exe"),
    }
    composed = post_multipart(client, "/", form)
    assert composed.status_code == 422 and "U+202E" in composed.get_data(as_text=True)
    assert count_rows(app, Campaign) == before

    body = imported(client, csv_bytes([["email", "name"], [f"b-{unique}@example.vn", "Bé\u202eo"]]))
    assert body["import"]["invalid"] == 1 and body["total"] == 0
    assert "bidirectional control" in body["invalid_rows"][0]["reason"]
