"""The files people really export, read through the API and imported by the real worker."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign, CsvImport, Message
from tests.conftest import AdminIdentity, count_rows, messages_of
from tests.csv_campaign_helpers import csv_bytes, imported, upload, wait_for_import


def test_excel_file_with_bom_semicolons_quotes_blank_lines_duplicates_and_bad_rows(
    app: Flask,
    client: FlaskClient,
    anonymous_client: FlaskClient,
    admin_identity: AdminIdentity,
    unique: str,
) -> None:
    text = (
        " E-mail ;Name;Công ty;Ngày\r\n"
        f'an-{unique}@example.vn;Nguyễn Văn An;"Công ty A; chi nhánh 1";01/02\r\n'
        "\r\n"
        f'binh-{unique}@example.com;"Trần, Bình";"Dòng 1\nDòng 2";02/02\r\n'
        "not-an-address;Lê Thị C;X;03/02\r\n"
        f"AN-{unique}@EXAMPLE.VN;Bản sao;Y;04/02\r\n"
        ";Không có địa chỉ;Z;05/02\r\n"
        f"cuong-{unique}@example.org;Phạm Cường;Z;06/02;extra\r\n"
        f"dung-{unique}@example.org;Đặng Dũng\r\n"
    )
    body = imported(
        client,
        codecs.BOM_UTF8 + text.encode("utf-8"),
        subject="{{ name }} ơi, thư từ {{ công_ty }}",
        html="<p>Chào <b>{{ name }}</b> – {{ ngày }}</p>",  # noqa: RUF001
    )
    report = body["import"]
    assert report["status"] == "ready", report
    assert (report["encoding"], report["delimiter"]) == ("utf-8-sig", ";")
    assert report["columns"] == ["email", "name", "công_ty", "ngày"]
    assert report["rows_read"] == 7  # the blank line is not a row
    assert (report["valid"], report["invalid"], report["duplicates"]) == (2, 4, 1)
    assert body["status"] == "draft" and body["total"] == 2

    # Invalid rows carry their line in the file (a quoted newline makes line 5 start on 6).
    lines = [(row["line"], row["email"]) for row in body["invalid_rows"]]
    assert lines == [
        (6, "not-an-address"),
        (8, ""),
        (9, f"cuong-{unique}@example.org"),
        (10, f"dung-{unique}@example.org"),
    ]
    reasons = [row["reason"] for row in body["invalid_rows"]]
    assert "not a valid address" in reasons[0]
    assert "empty" in reasons[1]
    assert "5 fields but the header has 4" in reasons[2]
    assert "2 fields but the header has 4 (a field is missing" in reasons[3]
    download = client.get(report["invalid_rows_url"])
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["line", "email", "reason"]
    assert [row[0] for row in rows[1:]] == ["6", "8", "9", "10"]
    # The link is the API's: a script holding only a token can fetch it; nobody else can.
    assert f"/api/v1/campaigns/{body['id']}/invalid-rows.csv" in report["invalid_rows_url"]
    bearer = {"Authorization": f"Bearer {admin_identity.token}"}
    by_token = anonymous_client.get(report["invalid_rows_url"], headers=bearer)
    assert by_token.status_code == 200
    assert by_token.get_data() == download.get_data()
    assert anonymous_client.get(report["invalid_rows_url"]).status_code == 401

    messages = messages_of(app, body["id"])
    assert [(m.to_address, m.to_name, m.status) for m in messages] == [
        (f"an-{unique}@example.vn", "Nguyễn Văn An", "draft"),
        (f"binh-{unique}@example.com", "Trần, Bình", "draft"),
    ]
    first, second = body["preview"]
    assert first["subject"] == "Nguyễn Văn An ơi, thư từ Công ty A; chi nhánh 1"
    assert first["to"] == f"Nguyễn Văn An <an-{unique}@example.vn>"
    assert (
        first["text"]
        == f"Kính gửi Nguyễn Văn An,\n\nThư mời dành riêng cho an-{unique}@example.vn.\n"
    )
    assert first["html"].strip() == "<p>Chào <b>Nguyễn Văn An</b> – 01/02</p>"  # noqa: RUF001
    assert second["subject"] == "Trần, Bình ơi, thư từ Dòng 1 Dòng 2"  # one line, always


def test_utf16_tab_separated_file_from_excel(app: Flask, client: FlaskClient, unique: str) -> None:
    data = csv_bytes(
        [["Email", "Name"], [f"ha-{unique}@example.vn", "Hoàng Thị Hà"]],
        delimiter="\t",
        encoding="utf-16",  # Python writes the BOM, as Excel's "Unicode text" does
    )
    assert data.startswith(codecs.BOM_UTF16_LE)
    body = imported(client, data)
    assert (body["import"]["encoding"], body["import"]["delimiter"]) == ("utf-16", "\t")
    assert body["import"]["valid"] == 1
    assert body["preview"][0]["subject"] == "Chào Hoàng Thị Hà"


def test_utf8_without_bom_comma_separated(client: FlaskClient, unique: str) -> None:
    data = csv_bytes([["name", "email"], ["Vũ Minh", f"minh-{unique}@example.vn"]])
    body = imported(client, data)
    assert (body["import"]["encoding"], body["import"]["delimiter"]) == ("utf-8-sig", ",")
    assert body["preview"][0]["to"] == f"Vũ Minh <minh-{unique}@example.vn>"


def test_a_vietnamese_name_column_names_the_recipient_whatever_its_accents(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    # A sheet saved on a Mac spells the header with combining accents (NFD).
    header = unicodedata.normalize("NFD", "Họ và tên")
    data = csv_bytes([["Email", header], [f"lan-{unique}@example.vn", "Phạm Thị Lan"]])
    template = "Chào {{ họ_và_tên }}"  # typed composed (NFC)
    body = imported(client, data, subject=template, text=template)
    assert body["import"]["columns"] == ["email", "họ_và_tên"]
    assert body["preview"][0]["to"] == f"Phạm Thị Lan <lan-{unique}@example.vn>"
    assert body["preview"][0]["subject"] == "Chào Phạm Thị Lan"
    [message] = messages_of(app, body["id"])
    assert message.to_name == "Phạm Thị Lan"


def test_a_name_with_a_control_character_past_the_sniffed_start_is_an_invalid_row(
    client: FlaskClient, unique: str
) -> None:
    """The first 4 KB are sniffed for control characters (a file that has them is not a CSV);
    past them, a name that would become the To header is checked row by row, so the row is
    reported with its line before sending, not failed at the send."""
    rows = [["email", "name"]] + [[f"p{i}-{unique}@example.vn", f"Người {i}"] for i in range(300)]
    rows.append([f"bell-{unique}@example.vn", "Lê\x07Chi"])
    rows.append([f"sep-{unique}@example.vn", "Phạm\u2028Bình"])  # a line separator: a space
    body = imported(client, csv_bytes(rows))
    assert (body["import"]["valid"], body["import"]["invalid"]) == (301, 1)
    [problem] = body["invalid_rows"]
    assert (problem["line"], problem["email"]) == (302, f"bell-{unique}@example.vn")
    assert problem["reason"] == (
        "the name must be a single line of text; it contains the control or line-separator "
        "character U+0007"
    )


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))


def zip_bomb() -> bytes:
    """A 20 MB CSV of zeros, deflated to about 20 KB: never unpacked, it is just binary."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("clients.csv", b"email\r\n" + b"0" * 20_000_000)
    return packed.getvalue()


@pytest.mark.parametrize(
    ("data", "fields", "field", "words"),
    [
        (b"", {}, "file", "empty"),
        (b"\r\n\r\n", {}, "file", "empty"),
        (PNG, {}, "file", "not a CSV text file"),
        (zip_bomb(), {}, "file", "not a CSV text file"),
        ("tên;địa chỉ\r\nAn;a@example.vn\r\n".encode(), {}, "file", "'email' column"),
        (b"email,Email\r\na@example.vn,b@example.vn\r\n", {}, "file", "both called"),
        (
            b"email,name\r\na@example.vn,An\r\n",
            {"text": "Xin chào {{ missing }}"},
            "template",
            "{{ missing }} but the file has no column 'missing'",
        ),
        (
            b"email,name\r\na@example.vn,An\r\n",
            {"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
            "text",
            "mail merge has no calls",
        ),
        (
            b"email,name\r\na@example.vn,An\r\n",
            {"text": "{{ ''.__class__.__mro__[1] }}"},
            "template",
            "refused by the sandbox",
        ),
        (b"email,name\r\na@example.vn,An\r\n", {"subject": "Chào {{ name"}, "subject", "line 1"),
        (b"email,name\r\na@example.vn,An\r\n", {"subject": "A\r\nBcc: x@y.z"}, "subject", "single"),
        (b"email,name\r\na@example.vn,An\r\n", {"subject": "", "text": ""}, "subject", "required"),
        (b"email\r\na@example.vn\r\n", {"from": "not an address"}, "from", "not a valid"),
    ],
)
def test_bad_files_and_templates_are_refused_at_once_and_store_nothing(
    app: Flask, client: FlaskClient, data: bytes, fields: dict, field: str, words: str | None
) -> None:
    before = (count_rows(app, Campaign), count_rows(app, Message), count_rows(app, CsvImport))
    response = upload(client, data, **fields)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert field in error["fields"], error
    if words:
        assert words in error["fields"][field]
    after = (count_rows(app, Campaign), count_rows(app, Message), count_rows(app, CsvImport))
    assert after == before


@pytest.mark.parametrize(
    ("text", "encoding", "letter"),
    [("Müller", "cp1252", "ü"), ("Ñandú", "cp1252", "Ñ"), ("Олег Орлов", "cp1251", "Î")],
)
def test_a_single_byte_file_that_is_not_vietnamese_is_refused_with_what_to_do(
    client: FlaskClient, text: str, encoding: str, letter: str
) -> None:
    data = f"email,name\r\na@example.vn,{text}\r\n".encode(encoding)
    response = upload(client, data)
    assert response.status_code == 422
    message = response.json["error"]["fields"]["file"]
    assert f"'{letter}', which is not a Vietnamese letter" in message
    assert "CSV UTF-8" in message


def test_past_the_row_limit_the_import_fails_and_leaves_no_rows(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    limit = int(app.config["CSV_MAX_ROWS"])  # the worker has the same (see conftest)
    data = csv_bytes([["email"]] + [[f"r{i}-{unique}@example.vn"] for i in range(limit + 1)])
    response = upload(client, data, subject="Xin chào", text="Thư cho {{ email }}")
    assert response.status_code == 202, response.json
    body = wait_for_import(client, response.json["id"])
    assert body["import"]["status"] == "failed"
    assert f"more than {limit:,} rows (CSV_MAX_ROWS)" in body["import"]["error"]
    assert messages_of(app, body["id"]) == []
    assert body["status"] == "import failed"


def test_past_the_upload_limit_the_file_is_refused(app: Flask, client: FlaskClient) -> None:
    app.config["CSV_MAX_UPLOAD_MB"] = 1
    data = csv_bytes([["email", "note"]] + [[f"r{i}@example.vn", "x" * 100] for i in range(12000)])
    before = count_rows(app, CsvImport)
    response = upload(client, data, subject="Xin chào", text="{{ note }}")
    assert response.status_code == 422  # within the request limit: refused while storing it
    assert "larger than 1 MB (CSV_MAX_UPLOAD_MB)" in response.json["error"]["message"]
    huge = csv_bytes([["email", "note"]] + [[f"r{i}@example.vn", "x" * 500] for i in range(13000)])
    response = upload(client, huge, subject="Xin chào", text="{{ note }}")
    assert response.status_code == 413  # past the request limit: refused before reading it
    assert "larger than 1 MB (CSV_MAX_UPLOAD_MB)" in response.json["error"]["message"]
    assert count_rows(app, CsvImport) == before


def test_missing_file_part_and_wrong_content_type(client: FlaskClient) -> None:
    assert client.post("/api/v1/campaigns", json={"subject": "x"}).status_code == 415
    response = client.post(
        "/api/v1/campaigns", data={"subject": "x", "text": "y"}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "file" in response.json["error"]["fields"]


def test_an_import_delivered_twice_imports_once(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    from dashboard.tasks import import_csv

    data = csv_bytes([["email"], [f"once-{unique}@example.vn"]])
    body = imported(client, data, subject="Xin chào", text="x")
    with app.app_context():
        csv_import_id = db.session.scalar(
            select(CsvImport.id).where(CsvImport.campaign_id == body["id"])
        )
        again = import_csv.apply_async(args=[csv_import_id], queue="bulk").get(timeout=30)
    assert again == "ready"
    assert len(messages_of(app, body["id"])) == 1


def test_the_openapi_document_has_every_campaign_endpoint(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    paths = document["paths"]
    create = paths["/campaigns"]["post"]
    schema = create["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert {"file", "subject", "text", "html", "from", "template_id"} <= set(schema["properties"])
    assert set(create["responses"]) == {"202", "400", "401", "403", "409", "413", "415", "422"}
    assert [p["name"] for p in create["parameters"]] == ["Idempotency-Key"]
    assert "200" in paths["/campaigns/{id}"]["get"]["responses"]
    invalid_rows = paths["/campaigns/{id}/invalid-rows.csv"]["get"]["responses"]
    assert "text/csv" in invalid_rows["200"]["content"] and "404" in invalid_rows
    for action in ("confirm", "pause", "resume", "cancel", "retry-failed"):
        responses = paths[f"/campaigns/{{id}}/{action}"]["post"]["responses"]
        assert {"200", "404", "409"} <= set(responses)
    assert {"CampaignOut", "CampaignActionOut"} <= set(document["components"]["schemas"])
