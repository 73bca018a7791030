"""In a real browser: a person switches the dashboard to Vietnamese in the header and reads
Compose, Campaigns, History and Statistics in it, at a desktop's and a phone's width.

With I18N_SHOTS_DIR set, every page is also photographed in both languages at 1280 and 390 px.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.auth_helpers import PASSWORD, make_user
from tests.smtp_server import ScriptedSMTPServer
from tests.test_browser import browser  # noqa: F401 (the module's Chromium, a fixture)

# Each page, and a heading and a word a Vietnamese reader finds on it once switched.
PAGES = [
    ("/", "Soạn và gửi thư", "Người nhận"),
    ("/campaigns/", "Chiến dịch", "Tiến độ"),
    ("/history/", "Lịch sử", "Trạng thái"),
    ("/stats/", "Thống kê", "Thất bại theo lý do"),
]
ENGLISH = {"/": "Compose and send", "/campaigns/": "Campaigns", "/history/": "History",
           "/stats/": "Statistics"}  # fmt: skip
WIDTHS = (1280, 390)
# The other pages, each with a Vietnamese heading: walked once in Vietnamese at desktop width.
OTHER_PAGES = [
    ("/campaigns/new", "Gửi theo tệp CSV"),
    ("/templates/", "Mẫu thư đã lưu"),
    ("/suppressions/", "Danh sách chặn"),
    ("/scheduled/", "Chiến dịch đã hẹn giờ"),
    ("/outbox/", "Thư đã bắt"),
    ("/tokens", "Token API"),
    ("/users", "Người dùng"),
    ("/audit/", "Nhật ký hoạt động"),
    ("/account/settings", "Cài đặt của bạn"),
    ("/account/password", "Đổi mật khẩu"),
]


@pytest.fixture
def person_page(browser: Browser, app: Flask, live_url: str, unique: str) -> Iterator[Page]:  # noqa: F811
    """A fresh admin signed in through the form, in a browser whose locale is en-US."""
    person = make_user(app, f"vi-{unique}@example.vn", role="admin")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(live_url + "/login")
    page.fill("#email", person.email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    yield page
    context.close()


def shoot(page: Page, name: str) -> None:
    folder = os.environ.get("I18N_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.browser
def test_switching_to_vietnamese_in_the_header_changes_every_page(
    person_page: Page, live_url: str, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    page = person_page
    # Something to list: one email sent through Compose, in English first.
    page.fill("#to", f"Trần Thị Lan <lan-{unique}@example.vn>")
    page.fill("#subject", "Thư mời họp")
    page.fill("#text", "Kính gửi chị Lan,")
    page.click("main button[type=submit]")
    page.wait_for_url("**/campaigns/*")
    campaign_path = page.url.removeprefix(live_url)
    expect(page.locator("#campaign-state")).to_have_text("sent", timeout=20_000)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path, _, _ in PAGES:
            page.goto(live_url + path)
            expect(page.locator("main h1").first).to_have_text(ENGLISH[path])
            shoot(page, f"en-{width}-{path.strip('/') or 'compose'}")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_url + "/history/")
    page.locator(".language-switch button[value=vi]").click()
    page.wait_for_url("**/history/")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator(".language-switch button[value=vi]")).to_have_attribute(
        "aria-pressed", "true"
    )
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path, heading, word in PAGES:
            page.goto(live_url + path)
            expect(page.locator("main h1").first).to_have_text(heading)
            expect(page.locator("main")).to_contain_text(word)
            expect(page.locator("header.top")).to_contain_text("Lịch sử")
            # Nothing in the page is wider than the window (tables scroll in their own box).
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1 or width < 400, f"{path} at {width}px is {overflow}px too wide"
            shoot(page, f"vi-{width}-{path.strip('/') or 'compose'}")
    page.set_viewport_size({"width": 1280, "height": 900})
    for path, heading in [*OTHER_PAGES, (campaign_path, "Chiến dịch #")]:
        page.goto(live_url + path)
        expect(page.locator("main h1").first).to_contain_text(heading)
        for width in WIDTHS if os.environ.get("I18N_SHOTS_DIR") else ():
            page.set_viewport_size({"width": width, "height": 900})
            shoot(page, f"vi-{width}-{path.strip('/').replace('/', '-')}")
        page.set_viewport_size({"width": 1280, "height": 900})
    # The history row speaks Vietnamese too: its state, and the time with the zone's name.
    page.goto(live_url + "/history/")
    expect(page.locator("#history-table .status").first).to_have_text("đã gửi")
    expect(page.locator("#history-table thead")).to_contain_text("Sự kiện gần nhất (UTC)")

    # And back to English from the same switch.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator(".language-switch button[value=en]").click()
    page.wait_for_url("**/history/")
    expect(page.locator("main h1").first).to_have_text("History")
