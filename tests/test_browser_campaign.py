"""In a real browser: upload a CSV, watch the import, read the preview, press Send and watch the
campaign finish without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.csv_campaign_helpers import csv_bytes
from tests.smtp_server import ScriptedSMTPServer
from tests.test_browser import (  # noqa: F401  (the shared fixtures)
    browser,
    console_errors,
    page,
)


@pytest.mark.browser
def test_upload_preview_send_and_watch_it_turn_sent(
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
    console_errors: list[str],  # noqa: F811
    smtp_server: ScriptedSMTPServer,
    unique: str,
) -> None:
    smtp_server.script.data_delay = 0.4  # slow enough to see it sending
    rows = [["Email", "Name"]] + [[f"b{i}-{unique}@example.vn", f"Đỗ Văn {i}"] for i in range(4)]
    page.set_default_timeout(30_000)
    page.goto(live_url + "/campaigns/new")
    page.set_input_files(
        "#file",
        files=[{"name": "khách hàng.csv", "mimeType": "text/csv", "buffer": csv_bytes(rows)}],
    )
    page.fill("#subject", "Chào {{ name }}")
    page.fill("#text", "Kính gửi {{ name }},\nHẹn gặp lại.")
    page.click("button[type=submit].primary")

    page.wait_for_url("**/campaigns/*")
    # The import's progress partial polls itself and brings the preview when it is done.
    expect(page.locator("#campaign-state")).to_have_text("draft")
    expect(page.locator("#import-counts")).to_contain_text("4 valid")
    expect(page.locator("article.preview").first).to_contain_text("Chào Đỗ Văn 0")

    page.click("text=Send to 4 recipients")
    page.wait_for_url("**/campaigns/*")
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#campaign-state")).to_have_text("sent", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True  # updated in place by HTMX
    expect(page.locator("#campaign-live")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator("#state-counts")).to_contain_text("4 sent")
    assert len([r for r in smtp_server.received if unique in r.rcpt_tos[0]]) == 4
    assert console_errors == []  # the strict CSP let htmx do all of it
