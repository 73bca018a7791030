"""The embedded SMTP catcher stores what it receives; the Caught mail page shows it safely."""

from __future__ import annotations

import re
import smtplib
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.mail.addresses import Mailbox
from dashboard.mail.attachments import AttachmentFile
from dashboard.mail.headers import new_message_id
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from dashboard.ops.catcher import run_catcher
from tests.conftest import wait_until
from tests.smtp_server import free_port

HOSTILE_HTML = '<p>Xin chào</p><script>alert("owned")</script><img src=x onerror="alert(1)">'


@pytest.fixture
def catcher_port(app: Flask) -> Iterator[int]:
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=run_catcher, args=(app, "127.0.0.1", port, stop), daemon=True)
    thread.start()
    wait_until(lambda: _accepts(port), timeout=10, what="the catcher to listen")
    yield port
    stop.set()
    thread.join(timeout=10)


def _accepts(port: int) -> bool:
    try:
        smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
        return True
    except OSError:
        return False


def test_caught_mail_page_shows_parts_safely(
    app: Flask, client: FlaskClient, catcher_port: int, unique: str
) -> None:
    subject = f"Đơn hàng <b>#{unique}</b> đã được giao"
    skeleton = MimeSkeleton(
        Mailbox("shop@example.com", "Cửa hàng"),
        has_html=True,
        attachments=[AttachmentFile("hoá đơn.txt", "text/plain", "Tổng: 100.000đ".encode())],
    )
    raw = skeleton.render(
        Personalised(
            recipient=Mailbox(f"khach-{unique}@example.vn", "Khách hàng"),
            subject=subject,
            text="Cảm ơn bạn đã mua hàng.",
            html=HOSTILE_HTML,
            message_id=new_message_id("example.com"),
        )
    )
    with smtplib.SMTP("127.0.0.1", catcher_port, timeout=10) as smtp:
        smtp.sendmail("shop@example.com", [f"khach-{unique}@example.vn"], raw)

    # The catcher commits before it answers 250, so the row is there now.
    listing = client.get("/outbox/").get_data(as_text=True)
    match = re.search(rf'<a href="(/outbox/\d+)">Đơn hàng &lt;b&gt;#{unique}&lt;/b&gt;', listing)
    assert match, "the subject is not listed, or not as escaped text"
    detail_url = match.group(1)
    page = client.get(detail_url).get_data(as_text=True)
    assert f"khach-{unique}@example.vn" in page
    assert "Cảm ơn bạn đã mua hàng." in page
    assert "<script>" not in page and 'onerror="alert' not in page
    # The HTML is its own document under its own policy, framed in a flagless sandbox.
    assert f'<iframe class="html-body" sandbox src="{detail_url}/preview"' in page
    assert "Xin chào" not in page
    preview = client.get(detail_url + "/preview")
    assert preview.mimetype == "text/html"
    assert preview.get_data(as_text=True).rstrip("\r\n") == HOSTILE_HTML
    policy = preview.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "style-src 'unsafe-inline'" in policy
    assert "script-src" not in policy and "frame-ancestors 'self'" in policy
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "hoá đơn.txt</a> (text/plain" in page
    raw_response = client.get(detail_url + "/raw")
    assert raw_response.mimetype == "text/plain"
    assert raw_response.data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
