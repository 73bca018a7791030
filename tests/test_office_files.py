"""The files a Vietnamese office really has, made the way Excel writes them, uploaded through the
page and the API, imported by the real worker and (for one) sent to the real SMTP server."""

from __future__ import annotations

import io
import unicodedata

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage

from tests.conftest import messages_of, wait_for_final, wait_until
from tests.csv_campaign_helpers import csv_bytes, imported, post_multipart
from tests.office_files import excel_cp1258_csv
from tests.smtp_server import ScriptedSMTPServer
from tests.test_campaign_pages import live_part, token_on

NAMES = ["Nguyễn Thị Hà", "Đặng Quốc Dũng", "Trương Mỹ Lệ", "Phạm Thị Ngọc Ánh"]
CITIES = ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ"]


def upload_page(client: FlaskClient, data: bytes, filename: str, **fields: str) -> int:
    """Upload through the page as a person does; the campaign's id once its import is done."""
    page = client.get("/campaigns/new").get_data(as_text=True)
    form = {
        "csrf_token": token_on(page),
        "file": FileStorage(io.BytesIO(data), filename=filename),
        **fields,
    }
    response = post_multipart(client, "/campaigns/new", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    wait_until(lambda: 'data-status="draft"' in live_part(client, campaign_id), what="import")
    return campaign_id


def test_a_cp1258_csv_from_vietnamese_excel_arrives_composed_in_the_mail(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    rows = [[f"kh{i}-{unique}@example.vn", name, CITIES[i]] for i, name in enumerate(NAMES)]
    data = excel_cp1258_csv([["Email", "Họ và tên", "Thành phố"], *rows])
    assert b"\xcc" in data or b"\xec" in data  # tone marks written as combining characters
    campaign_id = upload_page(
        client,
        data,
        "khach-hang.csv",
        subject="Chào {{ họ_và_tên }}",
        text="Kính gửi {{ họ_và_tên }} ở {{ thành_phố }}.",
    )
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Windows-1258 (Vietnamese Excel&#39;s &#34;CSV&#34;), comma separated" in page
    assert "Chào Nguyễn Thị Hà" in page  # the preview, composed
    body = client.get(f"/api/v1/campaigns/{campaign_id}").json
    assert body["import"]["encoding"] == "cp1258"
    assert body["import"]["columns"] == ["email", "họ_và_tên", "thành_phố"]
    assert body["import"]["valid"] == len(NAMES) and body["import"]["empty_fields"] == []
    stored = {m.to_address: m.to_name for m in messages_of(app, campaign_id)}
    assert stored == {row[0]: row[1] for row in rows}
    assert all(unicodedata.is_normalized("NFC", name) for name in stored.values())

    assert client.post(f"/api/v1/campaigns/{campaign_id}/confirm").status_code == 200
    messages = wait_for_final(app, campaign_id, timeout=120)
    assert {m.status for m in messages} == {"sent"}
    received = {r.rcpt_tos[0]: r for r in smtp_server.received if unique in r.rcpt_tos[0]}
    for address, name, city in rows:
        mail = received[address].message
        assert mail["Subject"] == f"Chào {name}"
        assert mail["To"].addresses[0].display_name == name
        # Byte for byte: the body's UTF-8 is the composed letters', not the file's base letters
        # and tone marks (those would decode to text that looks the same but compares unequal).
        plain = mail.get_body(("plain",))
        assert plain.get_content_charset() == "utf-8"
        payload = plain.get_payload(decode=True).replace(b"\r\n", b"\n").rstrip(b"\n")
        assert payload == f"Kính gửi {name} ở {city}.".encode()


def test_unicode_text_from_excel_utf16_with_bom_tab_separated(
    client: FlaskClient, unique: str
) -> None:
    rows = [["Email", "Name", "Công ty"], [f"ha-{unique}@example.vn", "Hoàng Thị Hà", "Sao Mai"]]
    data = csv_bytes(rows, delimiter="\t", encoding="utf-16-be")
    body = imported(client, b"\xfe\xff" + data, subject="Chào {{ name }} ({{ công_ty }})")
    assert (body["import"]["encoding"], body["import"]["delimiter"]) == ("utf-16", "\t")
    assert body["preview"][0]["subject"] == "Chào Hoàng Thị Hà (Sao Mai)"


def test_short_rows_are_invalid_and_empty_merge_fields_are_counted_before_send(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    rows = [["email", "tên", "công ty", "ghi chú"]]
    rows += [
        [f"a{i}-{unique}@example.vn", f"An {i}", "" if i % 3 == 0 else "Cty", ""] for i in range(12)
    ]
    text = csv_bytes(rows).decode() + f"short-{unique}@example.vn,Short Row\r\n"
    campaign_id = upload_page(
        client,
        text.encode(),
        "khach.csv",
        subject="Chào {{ tên }} từ {{ công_ty }}",
        text="Ở {{ công_ty }}",
    )
    body = client.get(f"/api/v1/campaigns/{campaign_id}").json
    assert (body["import"]["valid"], body["import"]["invalid"]) == (12, 1)
    [problem] = body["invalid_rows"]
    assert problem["line"] == 14 and problem["email"] == f"short-{unique}@example.vn"
    assert "2 fields but the header has 4 (a field is missing" in problem["reason"]
    # ghi_chú is empty everywhere but no template uses it: not worth a warning.
    assert body["import"]["empty_fields"] == [{"variable": "công_ty", "rows": 4}]
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "<code>{{ công_ty }}</code> is empty in 4 rows" in page
    assert "ghi_chú }}</code> is empty" not in page
    assert not any(m.to_address.startswith("short-") for m in messages_of(app, campaign_id))
