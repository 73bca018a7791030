"""Bad input gets a clear error, leaves no row behind and never reaches a 500."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import encode_multipart

from dashboard.models import Attachment, Campaign, Message
from tests.conftest import count_rows
from tests.test_send_end_to_end import csrf_token

TWENTY_MB = "x" * (20 * 1024 * 1024)


def row_counts(app: Flask) -> tuple[int, int, int]:
    return count_rows(app, Campaign), count_rows(app, Message), count_rows(app, Attachment)


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"subject": "s", "text": "t"}, "to", "required"),
        ({"to": "", "subject": "s", "text": "t"}, "to", "at least one recipient"),
        ({"to": [], "subject": "s", "text": "t"}, "to", "at least one recipient"),
        ({"to": "not-an-address", "subject": "s", "text": "t"}, "to", "not a valid address"),
        ({"to": "ok@example.com, bad@", "subject": "s", "text": "t"}, "to", "recipient 2"),
        (
            {"to": "a@example.com", "subject": "Hi\r\nBcc: victim@example.com", "text": "t"},
            "subject",
            "single line",
        ),
        ({"to": "a@example.com", "subject": "Hi\nX", "text": "t"}, "subject", "line feed"),
        ({"to": "a@example.com", "subject": "   ", "text": "t"}, "subject", "subject is required"),
        ({"to": "a@example.com", "subject": "s"}, "text", "text or an HTML body"),
        ({"to": "a@example.com", "subject": "s", "text": TWENTY_MB}, "text", "20.0 MB"),
        (
            {"to": ["Evil\r\nBcc: x@example.com <a@example.com>"], "subject": "s", "text": "t"},
            "to",
            "single line",
        ),
        ({"to": ["a@example.com", ""], "subject": "s", "text": "t"}, "to", "recipient 2"),
        (
            {"to": "a@example.com", "subject": "s", "text": "t", "from": "no good"},
            "from",
            "not a valid address",
        ),
        ({"to": "a@example.com", "subject": 5, "text": "t"}, "subject", "valid string"),
        (
            {"to": "a@example.com", "subject": "s", "text": "t", "body": "typo"},
            "body",
            "not permitted",
        ),
        (
            {
                "to": "a@example.com",
                "subject": "s",
                "text": "t",
                "attachments": [{"filename": "a.txt", "content_base64": "%%%"}],
            },
            "attachments",
            "not valid base64",
        ),
    ],
)
def test_api_rejects_bad_fields_with_422_naming_the_field(
    app: Flask, client: FlaskClient, payload: dict, field: str, words: str
) -> None:
    before = row_counts(app)
    response = client.post("/api/v1/emails", json=payload)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert words in error["fields"][field]
    assert words in error["message"]
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        (
            {"data": "to=a@example.com", "content_type": "application/x-www-form-urlencoded"},
            415,
            "Content-Type: application/json",
        ),
        ({"data": "{not json", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": b"\xff\xfe{}", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": "[1, 2]", "content_type": "application/json"}, 422, "JSON object"),
        ({"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"}, 400, "JSON"),
        (
            {
                "data": json.dumps(
                    {"to": "a@example.com", "subject": "s", "text": "x" * (31 << 20)}
                ),
                "content_type": "application/json",
            },
            413,
            "too large",
        ),
    ],
)
def test_api_rejects_malformed_requests(
    app: Flask, client: FlaskClient, kwargs: dict, status: int, words: str
) -> None:
    before = row_counts(app)
    response = client.post("/api/v1/emails", **kwargs)
    assert response.status_code == status
    assert response.is_json
    assert words in response.json["error"]["message"]
    assert row_counts(app) == before


@pytest.mark.parametrize(
    "path", ["/api/v1/emails/999999", "/api/v1/tasks/no-such-task", "/api/v1/nothing-here"]
)
def test_api_unknown_ids_are_json_404s(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"]["code"] == "not_found"


def test_api_wrong_method_is_json(client: FlaskClient) -> None:
    response = client.delete("/api/v1/emails")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("fields", "field_name", "words"),
    [
        ({"to": "", "subject": "s", "text": "t"}, "to", "at least one recipient"),
        ({"to": "nobody@", "subject": "s", "text": "t"}, "to", "not a valid address"),
        (
            {"to": "a@example.com", "subject": "Hi\r\nBcc: victim@example.com", "text": "t"},
            "subject",
            "single line",
        ),
        ({"to": "a@example.com", "subject": "s", "text": ""}, "text", "text or an HTML body"),
    ],
)
def test_form_shows_the_error_beside_the_field_and_keeps_the_input(
    app: Flask, client: FlaskClient, fields: dict, field_name: str, words: str
) -> None:
    before = row_counts(app)
    response = client.post("/", data={"csrf_token": csrf_token(client), **fields})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nothing was sent" in page
    field_block = re.search(
        rf'<div class="field has-error">\s*<label for="{field_name}".*?</div>', page, re.S
    )
    assert field_block, f"no error shown beside {field_name}"
    assert words in field_block.group(0)
    if fields["to"]:
        assert fields["to"] in page  # what the person typed is still there to fix
    assert row_counts(app) == before


def test_form_without_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    before = row_counts(app)
    response = client.post("/", data={"to": "a@example.com", "subject": "s", "text": "t"})
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_form_with_a_20_mb_body_gets_a_clear_page(app: Flask, client: FlaskClient) -> None:
    before = row_counts(app)
    # Multipart, as the compose form sends it; encoded here so no spooled temp file is left open.
    boundary, body = encode_multipart(
        {"csrf_token": csrf_token(client), "to": "a@example.com", "subject": "s", "text": TWENTY_MB}
    )
    response = client.post("/", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "too large" in page and "2 MB" in page
    assert row_counts(app) == before


def test_url_encoded_20_mb_body_is_named_beside_its_field(app: Flask, client: FlaskClient) -> None:
    before = row_counts(app)
    response = client.post(
        "/",
        data={
            "csrf_token": csrf_token(client),
            "to": "a@example.com",
            "subject": "s",
            "text": TWENTY_MB,
        },
    )
    assert response.status_code == 422
    assert "the body is 20.0 MB; the limit is 2.0 MB" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_unknown_campaign_page_is_a_404_page(client: FlaskClient) -> None:
    response = client.get("/campaigns/999999")
    assert response.status_code == 404
    assert "There is no such campaign." in response.get_data(as_text=True)
