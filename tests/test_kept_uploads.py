"""A form shown again (a problem to fix, a warning to tick) keeps the files it received: a
browser cannot put them back in the file input, and the next submit must not go without them.
Compose lists them with a box each and they arrive byte for byte; the suppression list reads its
kept CSV with the fixed box. They are the sender's only, for an hour, and a submit whose kept
files are gone says so and does nothing."""

from __future__ import annotations

import html
import io
import re

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.sending.kept_uploads import KEEP_SECONDS, KEY_PREFIX
from dashboard.sending.suppression import suppressed_among
from tests.auth_helpers import PASSWORD, form_csrf, make_user, sign_in
from tests.conftest import wait_for_final
from tests.smtp_server import ScriptedSMTPServer

INVOICE = b"%PDF-1.4\n% ho\xc3\xa1 \xc4\x91\xc6\xa1n th\xc3\xa1ng 12\n\x00\xff\x80 binary tail"
CONTRACT = bytes(range(256)) * 40  # 10 KB of every byte value


def _post(
    client: FlaskClient,
    data: dict,
    files: list[tuple[bytes, str]] = (),
    *,
    path: str = "/",
    field: str = "attachments",
):
    return client.post(
        path,
        data={
            "csrf_token": form_csrf(client, path),
            **data,
            field: [(io.BytesIO(content), name) for content, name in files],
        },
        content_type="multipart/form-data",
    )


def _kept_token(page: str) -> str:
    match = re.search(r'id="kept_files" name="kept_files" type="hidden" value="([0-9a-f]*)"', page)
    assert match, "the page carries no kept_files field"
    return match.group(1)


def _kept_names(page: str) -> list[str]:
    fieldset = page.split('id="kept-files"')[1].split("</fieldset>")[0]
    return re.findall(r'<span class="file-name">(.*?)</span>', fieldset)


def _campaigns(app: Flask, unique: str) -> list[Campaign]:
    with app.app_context():
        query = select(Campaign).where(Campaign.subject.contains(unique))
        return list(db.session.scalars(query))


def _attachments(smtp_server: ScriptedSMTPServer, address: str) -> list[tuple[str, bytes]]:
    [received] = smtp_server.received_by(address)
    parts = received.message.iter_attachments()
    return [(part.get_filename(), part.get_payload(decode=True)) for part in parts]


def test_the_files_survive_a_warning_and_arrive_byte_for_byte(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"kept-{unique}@example.vn"
    email = {"to": address, "subject": f"Hoá đơn {unique} cho {{{{ name }}}}", "text": "Chào"}
    warned = _post(client, email, [(INVOICE, "hoá đơn 12.pdf")])
    assert warned.status_code == 422
    page = html.unescape(warned.get_data(as_text=True))
    assert 'id="empty-fields"' in page  # {{ name }} is empty: a box to tick first
    assert _kept_names(page) == ["hoá đơn 12.pdf"]
    token = _kept_token(page)
    store = redis.Redis.from_url(app.config["RATE_LIMIT_REDIS_URL"])
    [key] = store.keys(f"{KEY_PREFIX}*{token}")
    assert 0 < store.ttl(key) <= KEEP_SECONDS
    assert _campaigns(app, unique) == []

    # Ticked "Send anyway"; the file input is empty, as a browser shows it again.
    sent = _post(client, {**email, "send_anyway": "y", "kept_files": token, "keep_file": "0"})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    [campaign] = _campaigns(app, unique)
    assert [m.status for m in wait_for_final(app, campaign.id)] == ["sent"]
    assert _attachments(smtp_server, address) == [("hoá đơn 12.pdf", INVOICE)]
    assert store.exists(key) == 0  # in the database with the email now


def test_after_a_problem_an_unticked_file_stays_out_and_a_new_one_is_added(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"mixed-{unique}@example.vn"
    email = {"to": "not an address", "subject": f"Hợp đồng {unique}", "text": "Kính gửi"}
    refused = _post(client, email, [(INVOICE, "hoa-don.pdf"), (CONTRACT, "hợp đồng.bin")])
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert "not a valid address" in page
    assert _kept_names(page) == ["hoa-don.pdf", "hợp đồng.bin"]
    assert f"({len(INVOICE)} bytes)" in page and "(10.0 KB)" in page

    fixed = {**email, "to": address, "kept_files": _kept_token(page), "keep_file": "1"}
    sent = _post(client, fixed, [(b"new file", "ghi chú.txt")])
    assert sent.status_code == 302, sent.get_data(as_text=True)
    [campaign] = _campaigns(app, unique)
    wait_for_final(app, campaign.id)
    assert _attachments(smtp_server, address) == [
        ("hợp đồng.bin", CONTRACT),
        ("ghi chú.txt", b"new file"),
    ]


def test_kept_files_gone_or_of_another_person_stop_the_send_with_a_reason(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    email = {"to": f"gone-{unique}@example.vn", "subject": f"Mất tệp {unique}", "text": "x"}
    refused = _post(client, {**email, "to": "x@"}, [(INVOICE, "hoa-don.pdf")])
    token = _kept_token(html.unescape(refused.get_data(as_text=True)))

    other = make_user(app, f"other-{unique}@example.vn")
    stranger = FlaskClient(app, app.response_class, use_cookies=True)
    assert sign_in(stranger, other.email, PASSWORD).status_code == 302
    for who, kept in ((stranger, token), (client, "0" * 32), (client, "../../etc")):
        answer = _post(who, {**email, "kept_files": kept, "keep_file": "0"})
        assert answer.status_code == 422
        page = html.unescape(answer.get_data(as_text=True))
        assert "are gone now: choose them again" in page
        assert "hoa-don.pdf" not in page
    assert _campaigns(app, unique) == []


def test_the_suppression_list_reads_its_kept_file_with_the_fixed_box(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    in_file = [f"tep1-{unique}@example.vn", f"tep2-{unique}@example.vn"]
    csv = ("email\r\n" + "\r\n".join(in_file) + "\r\n").encode()
    typed = {"addresses": "sai@@x", "reason": "unsubscribed"}
    refused = _post(client, typed, [(csv, "hủy đăng ký.csv")], path="/suppressions/", field="file")
    assert refused.status_code == 422
    page = html.unescape(refused.get_data(as_text=True))
    assert "entry 1:" in page and "Nothing was added" in page
    assert _kept_names(page) == ["hủy đăng ký.csv"]
    with app.app_context():
        assert suppressed_among(in_file) == set()

    box = f"go-tay-{unique}@example.vn"
    fixed = {**typed, "addresses": box, "kept_files": _kept_token(page), "keep_file": "0"}
    added = _post(client, fixed, path="/suppressions/", field="file")
    assert added.status_code == 302, added.get_data(as_text=True)
    with app.app_context():
        assert suppressed_among([box, *in_file]) == {box, *in_file}
