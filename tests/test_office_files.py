"""The files a Vietnamese office really has, made the way Excel writes them, uploaded through the
page and the API, imported by the real worker and (for one) sent to the real SMTP server."""

from __future__ import annotations

import datetime as dt
import io
import unicodedata

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage

from tests.conftest import messages_of, wait_for_final, wait_until
from tests.csv_campaign_helpers import csv_bytes, imported, post_multipart, upload, wait_for_import
from tests.office_files import excel_cp1258_csv, excel_workbook, with_shared_strings
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


def test_an_xlsx_workbook_through_the_page_and_the_api(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    born = dt.datetime(1990, 3, 7)
    rows: list[list[object]] = [
        ["Email", "Họ và tên", "Điện thoại", "Ngày sinh", "Công ty"],
        [f"ha-{unique}@example.vn", "Nguyễn Thị Hà", 84912345678, born, "Sao Mai"],
        [f"dung-{unique}@example.vn", "Đặng Quốc Dũng", 912345678, dt.date(2001, 12, 31), None],
        [None, None, None, None, None],  # an empty row in the middle: skipped, still counted
        ["không-phải-địa-chỉ", "Lỗi", 1, born, "X"],
        [
            f"le-{unique}@example.vn",
            "Trương Mỹ Lệ",
            0.5,
            dt.datetime(2026, 1, 2, 14, 30),
            "Y",
            "thừa",
        ],
    ]
    data = excel_workbook(rows, phone_format="0000000000")
    template = "Chào {{ họ_và_tên }} ({{ điện_thoại }}, {{ ngày_sinh }}) ở {{ công_ty }}"
    # The page
    campaign_id = upload_page(client, data, "Khách hàng.xlsx", subject=template, text=template)
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Excel workbook (.xlsx), first sheet · variables" in page
    assert "<code>{{ công_ty }}</code> is empty in 1 row:" in page
    # The API, same file
    body = imported(client, data, filename="khach.xlsx", subject=template, text=template)
    report = body["import"]
    assert (report["encoding"], report["delimiter"]) == ("xlsx", "")
    assert report["columns"] == ["email", "họ_và_tên", "điện_thoại", "ngày_sinh", "công_ty"]
    assert (report["valid"], report["invalid"]) == (2, 2)
    assert report["empty_fields"] == [{"variable": "công_ty", "rows": 1}]
    # Row numbers are the spreadsheet's.
    problems = [(p["line"], p["email"]) for p in body["invalid_rows"]]
    assert problems == [(5, "không-phải-địa-chỉ"), (6, f"le-{unique}@example.vn")]
    assert "6 fields but the header has 5" in body["invalid_rows"][1]["reason"]
    subjects = [p["subject"] for p in body["preview"]]
    assert subjects == [
        "Chào Nguyễn Thị Hà (84912345678, 1990-03-07) ở Sao Mai",
        "Chào Đặng Quốc Dũng (0912345678, 2001-12-31) ở ",  # the leading-zero format kept
    ]
    names = [m.to_name for m in messages_of(app, body["id"])]
    assert names == ["Nguyễn Thị Hà", "Đặng Quốc Dũng"]


def test_an_xlsx_without_email_column_or_that_is_not_a_workbook_is_refused(
    client: FlaskClient,
) -> None:
    no_email = excel_workbook([["Tên", "Điện thoại"], ["An", 912345678]])
    response = upload(client, no_email, filename="a.xlsx")
    assert response.status_code == 422
    assert "'email' column" in response.json["error"]["fields"]["file"]
    response = upload(client, b"email\r\na@example.vn\r\n", filename="a.xlsx")
    assert response.status_code == 422
    assert "not an Excel workbook" in response.json["error"]["fields"]["file"]


def _damaged_after_the_header(workbook: bytes) -> bytes:
    """The workbook with its sheet's <dimension> removed (as many tools other than Excel
    write it) and the sheet's XML cut off in its third row."""
    import re
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"<dimension [^>]*/>", b"", data)
                third = data.index(b'<row r="3"')
                data = data[: third + 20]
            target.writestr(item, data)
    return out.getvalue()


def test_an_xlsx_damaged_past_its_header_fails_its_import_with_a_reason_and_no_rows(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    rows: list[list[object]] = [["Email", "Tên"]] + [
        [f"r{i}-{unique}@example.vn", f"Người {i}"] for i in range(5)
    ]
    data = _damaged_after_the_header(excel_workbook(rows))
    # The upload reads the header only, from the head of the sheet (not the whole sheet).
    response = upload(
        client, data, filename="hỏng.xlsx", subject=f"Chào {unique}", text="Chào {{ tên }}"
    )
    assert response.status_code == 202, response.json
    body = wait_for_import(client, response.json["id"])
    assert body["import"]["status"] == "failed"
    assert "This workbook cannot be read" in body["import"]["error"]
    assert messages_of(app, body["id"]) == []


def test_an_xlsx_with_its_texts_in_shared_strings_as_excel_saves_them(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    rows: list[list[object]] = [
        ["Email", "Họ và tên", "Công ty"],
        [f"ha-{unique}@example.vn", "Nguyễn Thị Hà", "Sao Mai"],
        [f"dung-{unique}@example.vn", "Đặng Quốc Dũng", "Sao Mai"],  # one entry, used twice
        [f"le-{unique}@example.vn", "Trương Mỹ Lệ", "  Hoa Sen  "],
    ]
    styled = {
        # "Nguyễn" in bold: Excel splits the text into runs.
        "Nguyễn Thị Hà": '<r><rPr><b/><sz val="11"/></rPr><t>Nguyễn</t></r>'
        '<r><rPr><sz val="11"/></rPr><t xml:space="preserve"> Thị Hà</t></r>',
        # Phonetic guides, as Excel keeps them for a text typed with an IME: not the text.
        "Đặng Quốc Dũng": '<t>Đặng Quốc Dũng</t><rPh sb="0" eb="4"><t>ダン</t></rPh>'
        '<phoneticPr fontId="1" type="noConversion"/>',
    }
    data = with_shared_strings(excel_workbook(rows), styled)
    template = "Chào {{ họ_và_tên }} ở [{{ công_ty }}]"
    body = imported(client, data, filename="khách.xlsx", subject=template, text=template)
    assert body["import"]["columns"] == ["email", "họ_và_tên", "công_ty"]
    assert (body["import"]["valid"], body["import"]["invalid"]) == (3, 0)
    subjects = [p["subject"] for p in body["preview"]]
    assert subjects[:2] == ["Chào Nguyễn Thị Hà ở [Sao Mai]", "Chào Đặng Quốc Dũng ở [Sao Mai]"]
    names = [m.to_name for m in messages_of(app, body["id"])]
    assert names == ["Nguyễn Thị Hà", "Đặng Quốc Dũng", "Trương Mỹ Lệ"]


def _shared_strings_cut_after(workbook: bytes, entries: int) -> bytes:
    """The workbook with its shared-strings part cut off inside entry number `entries`."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                start = 0
                for _ in range(entries + 1):
                    start = data.index(b"<si>", start) + 1
                data = data[: start + 10]
            target.writestr(item, data)
    return out.getvalue()


def test_an_xlsx_whose_shared_strings_are_damaged_fails_its_import_with_a_reason_and_no_rows(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    rows: list[list[object]] = [["Email", "Tên"]] + [
        [f"r{i}-{unique}@example.vn", f"Người {i}"] for i in range(5)
    ]
    data = _shared_strings_cut_after(with_shared_strings(excel_workbook(rows)), 6)
    # The upload reads the header's two entries only, so it does not reach the damage.
    response = upload(
        client, data, filename="hỏng.xlsx", subject=f"Chào {unique}", text="Chào {{ tên }}"
    )
    assert response.status_code == 202, response.json
    body = wait_for_import(client, response.json["id"])
    assert body["import"]["status"] == "failed"
    assert "This workbook cannot be read" in body["import"]["error"]
    assert messages_of(app, body["id"]) == []
