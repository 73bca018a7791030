"""In a real browser: every HTML preview shows the mail's inline styles and inlined `cid:`
images, runs none of its scripts, loads nothing remote, and costs the dashboard page itself no
Content-Security-Policy violation."""

from __future__ import annotations

import struct
import zlib
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, Request, expect

from dashboard.extensions import db
from dashboard.models import CaughtMail, MessageTemplate
from tests.conftest import messages_of
from tests.csv_campaign_helpers import csv_bytes, imported
from tests.test_browser import browser, console_errors, page  # noqa: F401  (fixtures)

REMOTE = "http://127.0.0.2/x.png"
STYLED_HTML = (
    '<p id="red" style="color: #ff0000; font-weight: 700">Chào bạn</p>'
    "<script>document.body.setAttribute('data-ran', 'yes')</script>"
    f'<img id="remote" src="{REMOTE}" alt="remote">'
    f"<div style=\"background-image: url('{REMOTE}?css')\">bg</div>"
)
# Violations of the dashboard's own policy, recorded by the page itself (not the framed mail's).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + b"\xff\0\0" * 3 for _ in range(2)))
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def caught_html_mail(app: Flask, unique: str) -> int:
    mail = EmailMessage()
    mail["From"] = "Cửa hàng <shop@example.com>"
    mail["To"] = f"Khách <khach-{unique}@example.vn>"
    mail["Subject"] = f"Ảnh {unique}"
    mail.set_content("Chào bạn")
    mail.add_alternative(STYLED_HTML + '<img id="logo" src="cid:logo-1@example.com">', "html")
    mail.get_payload()[1].add_related(
        tiny_png(), "image", "png", cid="<logo-1@example.com>", filename="logo.png"
    )
    with app.app_context():
        row = CaughtMail(
            mail_from="shop@example.com",
            rcpt_tos=f'["khach-{unique}@example.vn"]',
            subject=f"Ảnh {unique}",
            raw=mail.as_bytes(),
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def saved_template(app: Flask, unique: str) -> int:
    with app.app_context():
        row = MessageTemplate(
            name=f"preview {unique}", subject="Chào", text_body="Chào", html_body=STYLED_HTML
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def assert_previews_faithfully(shown: Page, url: str, requests: list[str]) -> None:
    shown.goto(url)
    frame = shown.frame_locator("iframe.html-body").first
    expect(frame.locator("#red")).to_have_css("color", "rgb(255, 0, 0)")
    expect(frame.locator("#red")).to_have_css("font-weight", "700")
    expect(frame.locator("body")).not_to_have_attribute("data-ran", "yes")
    iframe = shown.locator("iframe.html-body").first
    assert iframe.get_attribute("sandbox") == ""
    assert iframe.get_attribute("srcdoc") is None
    remote = [r for r in requests if "127.0.0.2" in r]
    assert remote, "the mail's remote image was not even tried: the test proves nothing"
    assert {r for r in remote if " " in r} == {f"{REMOTE} csp"}, remote
    assert len([r for r in remote if " " not in r]) == len([r for r in remote if " " in r])
    assert shown.evaluate("window.__violations") == [], url


@pytest.mark.browser
def test_every_html_preview_is_faithful_and_inert(
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
    app: Flask,
    client: FlaskClient,
    unique: str,
) -> None:
    caught_id = caught_html_mail(app, unique)
    template_id = saved_template(app, unique)
    sent = client.post(
        "/api/v1/emails",
        json={
            "to": [f"Lan <lan-{unique}@example.vn>"],
            "subject": "Xem trước",
            "text": "Chào",
            "html": STYLED_HTML,
        },
    )
    assert sent.status_code in (201, 202), sent.json
    [message] = messages_of(app, sent.json["id"])
    draft = imported(
        client,
        csv_bytes([["email", "name"], [f"draft-{unique}@example.vn", "Lan"]]),
        html=STYLED_HTML,
    )

    # A remote load the policy refuses never reaches the network: Chromium reports it as failed
    # as "csp" (nothing listens on 127.0.0.2, so a real try would fail otherwise).
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfailed", lambda request: requests.append(_failure(request)))
    page.add_init_script(WATCH_VIOLATIONS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    assert_previews_faithfully(page, f"{live_url}/outbox/{caught_id}", requests)
    logo = page.frame_locator("iframe.html-body").first.locator("#logo")
    expect(logo).to_have_js_property("complete", True)
    assert logo.evaluate("image => image.naturalWidth") == 3  # the related part, inlined
    assert_previews_faithfully(page, f"{live_url}/history/{message.id}", requests)
    assert_previews_faithfully(page, f"{live_url}/campaigns/{draft['id']}", requests)
    assert_previews_faithfully(page, f"{live_url}/templates/{template_id}", requests)
    assert dialogs == []


def _failure(request: Request) -> str:
    return f"{request.url.split('?')[0]} {request.failure}"
