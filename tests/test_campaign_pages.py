"""The pages a person uses: upload a CSV, see the preview, press Send and watch; saved templates
reused from the CSV and compose pages; the suppression list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage

from dashboard.campaigns import upload as campaign_upload
from dashboard.campaigns.import_report import import_of
from dashboard.campaigns.upload import CampaignContent
from dashboard.extensions import db
from dashboard.mail.addresses import Mailbox
from dashboard.models import Campaign, CsvImport, ImportStatus, MessageTemplate
from tests.conftest import count_rows, wait_for_final, wait_until
from tests.csv_campaign_helpers import csv_bytes, post_multipart
from tests.smtp_server import ScriptedSMTPServer


def token_on(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def csv_file(data: bytes) -> FileStorage:
    import io

    return FileStorage(io.BytesIO(data), filename="khach-hang.csv", content_type="text/csv")


def live_part(client: FlaskClient, campaign_id: int) -> str:
    return client.get(f"/campaigns/{campaign_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )


def test_upload_preview_send_and_watch_it_finish(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    rows = [["email", "name"], [f"lan-{unique}@example.vn", "Ngô Thị Lan"], ["sai@", "Lỗi"]]
    page = client.get("/campaigns/new").get_data(as_text=True)
    response = post_multipart(
        client,
        "/campaigns/new",
        {
            "csrf_token": token_on(page),
            "file": csv_file(csv_bytes(rows)),
            "subject": "Chào {{ name }}",
            "text": "Kính gửi {{ name }}.",
            "html": "<p>{{ name }}</p>",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    url = response.headers["Location"]
    campaign_id = int(url.rsplit("/", 1)[1])
    wait_until(lambda: 'data-status="draft"' in live_part(client, campaign_id), what="import")

    page = client.get(url).get_data(as_text=True)
    assert "hx-trigger" not in page  # nothing changes until a person presses Send
    assert "<strong>1</strong> valid" in page and "<strong>1</strong> invalid" in page
    assert "Chào Ngô Thị Lan" in page  # the rendered preview
    assert f"/campaigns/{campaign_id}/invalid-rows.csv" in page
    assert "Send to 1 recipients" in page
    assert (
        client.get(f"/campaigns/{campaign_id}/invalid-rows.csv")
        .get_data(as_text=True)
        .count("sai@")
    )
    # A button without its CSRF token does nothing.
    assert client.post(f"/campaigns/{campaign_id}/confirm").status_code == 400
    sent = client.post(f"/campaigns/{campaign_id}/confirm", data={"csrf_token": token_on(page)})
    assert sent.status_code == 302

    wait_for_final(app, campaign_id)
    final = live_part(client, campaign_id)
    assert 'data-final="true"' in final and "hx-trigger" not in final
    assert 'data-status="sent"' in final
    assert "1 of 1 done" in final
    [received] = smtp_server.received_by(f"lan-{unique}@example.vn")
    assert received.message["Subject"] == "Chào Ngô Thị Lan"


def test_upload_page_names_the_problem_and_stores_nothing(app: Flask, client: FlaskClient) -> None:
    before = count_rows(app, Campaign)
    page = client.get("/campaigns/new").get_data(as_text=True)
    response = post_multipart(
        client,
        "/campaigns/new",
        {
            "csrf_token": token_on(page),
            "file": csv_file(b"ten,dia chi\r\nAn,a@example.vn\r\n"),
            "subject": "Chào {{ name }}",
            "text": "x",
        },
    )
    assert response.status_code == 422
    assert "&#39;email&#39; column" in response.get_data(as_text=True)
    assert count_rows(app, Campaign) == before


def test_saved_template_is_previewed_refused_when_unsafe_and_reused(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    page = client.get("/templates/new").get_data(as_text=True)
    unsafe = client.post(
        "/templates/new",
        data={
            "csrf_token": token_on(page),
            "name": f"độc {unique}",
            "subject": "x",
            "text": "{{ ''.__class__.__mro__ }}",
        },
    )
    assert unsafe.status_code == 422
    assert "refused by the sandbox" in unsafe.get_data(as_text=True)

    saved = client.post(
        "/templates/new",
        data={
            "csrf_token": token_on(page),
            "name": f"Thư mời {unique}",
            "subject": "Mời {{ name }} dự tiệc",
            "text": "Thân gửi {{ name }} ({{ email }})",
        },
    )
    assert saved.status_code == 302
    template_url = saved.headers["Location"]
    template_id = template_url.rstrip("/").rsplit("/", 1)[1]
    shown = client.get(template_url).get_data(as_text=True)
    assert "Mời [name] dự tiệc" in shown and "Thân gửi [name] ([email])" in shown

    edit_page = client.get(f"/templates/{template_id}/edit").get_data(as_text=True)
    assert f"Thư mời {unique}" in edit_page
    edited = client.post(
        f"/templates/{template_id}/edit",
        data={
            "csrf_token": token_on(edit_page),
            "name": f"Thư mời {unique}",
            "subject": "Kính mời {{ name }} dự tiệc",
            "text": "Thân gửi {{ name }} ({{ email }})",
        },
    )
    assert edited.status_code == 302

    # From the CSV page: picked by id, its parts fill the empty fields.
    csv_page = client.get(f"/campaigns/new?template={template_id}").get_data(as_text=True)
    assert "Kính mời {{ name }} dự tiệc" in csv_page
    address = f"tiec-{unique}@example.vn"
    response = post_multipart(
        client,
        "/campaigns/new",
        {
            "csrf_token": token_on(csv_page),
            "template_id": template_id,
            "file": csv_file(csv_bytes([["email", "name"], [address, "Tô Hoài"]])),
            "subject": "",
            "text": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    wait_until(lambda: 'data-status="draft"' in live_part(client, campaign_id), what="import")
    assert "Kính mời Tô Hoài dự tiệc" in client.get(f"/campaigns/{campaign_id}").get_data(
        as_text=True
    )

    # From Compose: prefilled, and {{ name }} is each recipient's own name.
    compose = client.get(f"/?template={template_id}").get_data(as_text=True)
    assert "Kính mời {{ name }} dự tiệc" in compose
    first, second = f"an-{unique}@example.vn", f"binh-{unique}@example.vn"
    sent = client.post(
        "/",
        data={
            "csrf_token": token_on(compose),
            "to": f"Lê An <{first}>, Mai Bình <{second}>",
            "subject": "Kính mời {{ name }} dự tiệc",
            "text": "Thân gửi {{ name }} ({{ email }})",
        },
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    wait_for_final(app, int(sent.headers["Location"].rsplit("/", 1)[1]))
    [to_first] = smtp_server.received_by(first)
    assert to_first.message["Subject"] == "Kính mời Lê An dự tiệc"
    assert to_first.message.get_content().strip() == f"Thân gửi Lê An ({first})"
    assert "List-Unsubscribe" not in to_first.message  # a single email, not bulk
    [to_second] = smtp_server.received_by(second)
    assert to_second.message["Subject"] == "Kính mời Mai Bình dự tiệc"

    unknown = client.post(
        "/",
        data={
            "csrf_token": token_on(compose),
            "to": first,
            "subject": "Chào {{ company }}",
            "text": "x",
        },
    )
    assert unknown.status_code == 422
    assert "{{ company }}" in unknown.get_data(as_text=True)


def test_suppression_page_adds_by_hand_and_by_csv_and_removes(
    client: FlaskClient, unique: str
) -> None:
    page = client.get("/suppressions/").get_data(as_text=True)
    by_hand = client.post(
        "/suppressions/",
        data={
            "csrf_token": token_on(page),
            "addresses": f"Tay-{unique}@Example.VN, tay2-{unique}@example.vn",
            "reason": "manual",
        },
    )
    assert by_hand.status_code == 302
    listed = client.get("/suppressions/").get_data(as_text=True)
    assert f"tay-{unique}@example.vn" in listed  # stored lower-cased
    bad = client.post(
        "/suppressions/",
        data={"csrf_token": token_on(page), "addresses": "khong-hop-le@", "reason": "manual"},
    )
    assert bad.status_code == 422 and "entry 1" in bad.get_data(as_text=True)
    uploaded = post_multipart(
        client,
        "/suppressions/",
        {
            "csrf_token": token_on(page),
            "addresses": "",
            "reason": "bounced",
            "file": csv_file(csv_bytes([["Email", "ghi chú"], [f"csv-{unique}@example.vn", "x"]])),
        },
    )
    assert uploaded.status_code == 302
    listed = client.get("/suppressions/").get_data(as_text=True)
    assert f"csv-{unique}@example.vn" in listed and "bounced" in listed

    row_id = re.search(
        rf"tay-{unique}@example.vn.*?/suppressions/(\d+)/remove", listed, re.DOTALL
    ).group(1)
    removed = client.post(f"/suppressions/{row_id}/remove", data={"csrf_token": token_on(page)})
    assert removed.status_code == 302
    after = client.get("/suppressions/").get_data(as_text=True)
    assert f"<td>tay-{unique}@example.vn</td>" not in after
    assert f"<td>tay2-{unique}@example.vn</td>" in after


def test_an_import_no_worker_took_can_be_started_again(
    app: Flask, client: FlaskClient, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker was unreachable when the file was stored: the upload waits in the database
    (the lost publish is simulated; the restart goes through the real broker and worker)."""
    content = CampaignContent("Xin chào", "x", None, Mailbox("dispatcher@example.com"))
    with app.app_context():
        with monkeypatch.context() as patch:
            patch.setattr(campaign_upload, "_start_import", lambda import_id: None)
            campaign = campaign_upload.create_csv_campaign(
                csv_file(csv_bytes([["email"], [f"cho-{unique}@example.vn"]])).stream,
                filename="x.csv",
                content=content,
                source="csv",
            )
        stored = import_of(campaign.id)
        stored.created_at -= timedelta(minutes=5)
        db.session.commit()
        campaign_id, import_id = campaign.id, stored.id
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "No worker has taken this import yet" in page
    restarted = client.post(
        f"/campaigns/{campaign_id}/restart-import", data={"csrf_token": token_on(page)}
    )
    assert restarted.status_code == 302
    wait_until(lambda: 'data-status="draft"' in live_part(client, campaign_id), what="import")
    with app.app_context():
        assert db.session.get(CsvImport, import_id).status == ImportStatus.READY


def test_a_template_with_a_nul_or_a_control_character_is_refused_by_field_and_stores_nothing(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    """On PostgreSQL a NUL reached the INSERT (a 500); every field is checked, in Vietnamese."""
    page = client.get("/templates/new").get_data(as_text=True)
    before = count_rows(app, MessageTemplate)
    refused = client.post(
        "/templates/new",
        headers={"Accept-Language": "vi"},
        data={
            "csrf_token": token_on(page),
            "name": f"Mẫu\x00{unique}",
            "subject": "Chào\x07 {{ name }}",
            "text": "Thân gửi\x00",
            "html": "<p>\x00</p>",
        },
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert html.count("phải nằm trên một dòng") == 2  # the name (a NUL) and the subject (a BEL)
    assert html.count("ký tự NUL") == 2  # the text and the HTML bodies
    assert count_rows(app, MessageTemplate) == before
    long_name = client.post(
        "/templates/new",
        data={"csrf_token": token_on(page), "name": "x" * 201, "subject": "s", "text": "t"},
    )
    assert long_name.status_code == 422
    assert "at most 200 characters" in long_name.get_data(as_text=True)
    assert count_rows(app, MessageTemplate) == before
