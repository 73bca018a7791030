"""In a real browser: filter the history without a reload, then open a message's attempt log."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from tests.conftest import wait_for_final
from tests.smtp_server import ScriptedSMTPServer
from tests.test_browser import browser, console_errors, page  # noqa: F401  (fixtures)


@pytest.mark.browser
def test_filter_the_history_and_open_a_message_attempt_log(
    app: Flask,
    client: FlaskClient,
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
    console_errors: list[str],  # noqa: F811
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    refused, accepted = f"hoa-{unique}@example.vn", f"lan-{unique}@example.vn"
    smtp_server.script.rcpt_replies[refused] = "550 5.1.1 Hộp thư không tồn tại"
    response = client.post(
        "/api/v1/emails",
        json={"to": [refused, accepted], "subject": f"Thư mời {unique}", "text": "Xin chào"},
    )
    wait_for_final(app, response.json["id"])

    page.goto(live_url + "/history/")
    page.evaluate("window.__notReloaded = true")
    page.fill("#subject", unique)
    page.select_option("#status", "failed")  # a change swaps the table in place
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page).to_have_url(re.compile(rf"subject={unique}"))
    rows = page.locator("#history-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(refused)
    expect(rows.first.locator(".status")).to_have_text("failed")
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped it, no reload

    page.select_option("#status", "sent")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(accepted)
    page.go_back()  # the URL history follows the filters
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#history-table tbody tr").first).to_contain_text(refused)

    page.click(f"text={refused}")
    page.wait_for_url("**/history/*")
    attempts = page.locator("#attempts tbody tr")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_contain_text("550")
    expect(attempts.first).to_contain_text("Hộp thư không tồn tại")
    expect(page.locator("#message-status")).to_have_text("failed")
    expect(page.locator("#retry")).to_be_visible()
    assert console_errors == []  # the strict CSP let htmx do all of it
