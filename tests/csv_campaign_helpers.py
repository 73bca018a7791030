"""Uploading a CSV campaign through the API and waiting for its import, as a client would."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.conftest import wait_until

SUBJECT = "Chào {{ name }}"
TEXT = "Kính gửi {{ name }},\n\nThư mời dành riêng cho {{ email }}.\n"


def upload(
    client: FlaskClient,
    data: bytes,
    *,
    subject: str = SUBJECT,
    text: str = TEXT,
    html: str | None = None,
    filename: str = "danh-sach.csv",
    **fields: str,
):
    form: dict[str, Any] = {
        "file": FileStorage(io.BytesIO(data), filename=filename, content_type="text/csv"),
        "subject": subject,
        "text": text,
    }
    if html is not None:
        form["html"] = html
    form.update(fields)
    return post_multipart(client, "/api/v1/campaigns", form)


def post_multipart(client: FlaskClient, url: str, form: dict[str, Any]):
    """Encode the body in memory: the test client's own encoding spills big bodies to a temporary
    file it never closes (a ResourceWarning, so an error here)."""
    boundary, body = encode_multipart(form)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def wait_for_import(client: FlaskClient, campaign_id: int, timeout: float = 60) -> dict:
    """Poll the campaign until its import is ready or failed; return the API's answer."""

    def done() -> dict | None:
        body = client.get(f"/api/v1/campaigns/{campaign_id}").json
        return body if body["import"]["status"] in ("ready", "failed") else None

    return wait_until(done, timeout=timeout, what=f"campaign {campaign_id}'s import")


def imported(client: FlaskClient, data: bytes, **kwargs: Any) -> dict:
    response = upload(client, data, **kwargs)
    assert response.status_code == 202, response.json
    return wait_for_import(client, response.json["id"])


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    import csv

    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)
