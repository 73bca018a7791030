"""In a real browser: compose, send, and watch the status turn to sent without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from dashboard.mail.smtp import AccountUnavailable, SmtpSettings
from dashboard.sending.account import Account
from dashboard.sending.account_hold import hold_account, release_account
from tests.conftest import AdminIdentity, sign_in
from tests.smtp_server import ScriptedSMTPServer
from tests.test_account_pools import add_account
from tests.test_stored_xss import plant_hostile_data

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


PREVIEW_DOCUMENT = re.compile(r"/preview(/\d+)?$")


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors of the page (CSP violations among them); a test asserts there are none.
    A framed mail preview's own refusals (its script, its remote image) are its policy at work,
    not the dashboard's: they are left out."""
    return []


def _dashboard_error(message: ConsoleMessage) -> bool:
    return message.type == "error" and not PREVIEW_DOCUMENT.search(message.location.get("url", ""))


@pytest.fixture
def page(
    browser: Browser, live_url: str, admin_identity: AdminIdentity, console_errors: list[str]
) -> Iterator[Page]:
    """A page signed in as the test admin through the login form."""
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.on("console", lambda m: console_errors.append(m.text) if _dashboard_error(m) else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    sign_in(page, live_url, admin_identity)
    yield page
    page.close()


@pytest.mark.browser
def test_compose_send_and_watch_it_turn_sent(
    page: Page,
    live_url: str,
    smtp_server: ScriptedSMTPServer,
    unique: str,
    console_errors: list[str],
) -> None:
    smtp_server.script.data_delay = 2.5  # slow enough to see it before it is sent
    address = f"trinh-{unique}@example.vn"
    page.goto(live_url + "/")
    page.fill("#to", f"Lê Thị Trinh <{address}>")
    page.fill("#subject", "Chúc mừng năm mới 🎉")
    page.fill("#text", "Chúc bạn một năm mới an khang thịnh vượng!")
    page.click("button[type=submit]")

    page.wait_for_url("**/campaigns/*")
    row = page.locator("#messages tbody tr").first
    expect(row).to_contain_text(address)
    # Seen before it is sent: queued, or sending (a loaded machine can poll past the 2.5 s).
    expect(row.locator(".status")).to_have_text(re.compile("^(queued|sending)$"))
    page.evaluate("window.__notReloaded = true")

    expect(row.locator(".status")).to_have_text("sent", timeout=20_000)
    expect(page.locator("#campaign-state")).to_have_text("sent")
    expect(row).to_contain_text("250")
    assert page.evaluate("window.__notReloaded") is True  # updated in place by HTMX
    expect(page.locator("#campaign-live")).not_to_have_attribute("hx-trigger", "every 2s")
    [received] = smtp_server.received_by(address)
    assert received.message["Subject"] == "Chúc mừng năm mới 🎉"
    # The dashboard and htmx work under the Content-Security-Policy: nothing was refused.
    assert console_errors == []


@pytest.mark.browser
def test_hostile_data_stays_inert_in_a_real_browser(
    page: Page,
    live_url: str,
    app: Flask,
    client: FlaskClient,
    smtp_server: ScriptedSMTPServer,
    unique: str,
    console_errors: list[str],
) -> None:
    hostile = plant_hostile_data(app, client, smtp_server, unique)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in (
        f"/campaigns/{hostile.job_id}",
        f"/outbox/{hostile.caught_id}",
        "/tokens",
        "/campaigns/",
    ):
        page.goto(live_url + path)
        page.wait_for_load_state("load")
    expect(page.locator("table.grid").first).to_contain_text('<script>alert("subject")</script>')
    assert dialogs == []  # no script ran: not in the page, not in the sandboxed HTML body
    # Neither did anything try: an attempt would show as a CSP violation or a page error.
    refused = [e for e in console_errors if "Content Security Policy" in e or "alert" in e]
    assert refused == []


@pytest.mark.browser
def test_every_header_link_is_visible_and_none_overlaps(page: Page, live_url: str) -> None:
    """The page's links and the account's share the header bar at desktop and laptop widths."""
    for width in (1280, 900):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(live_url + "/history/")
        boxes = [
            (link.inner_text(), link.bounding_box())
            for link in page.locator("header.top a, nav.account a, nav.account button").all()
        ]
        assert len(boxes) >= 13 and all(box for _, box in boxes)
        for index, (name, box) in enumerate(boxes):
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, name)
            for other, other_box in boxes[index + 1 :]:
                apart = (
                    box["x"] + box["width"] <= other_box["x"]
                    or other_box["x"] + other_box["width"] <= box["x"]
                    or box["y"] + box["height"] <= other_box["y"]
                    or other_box["y"] + other_box["height"] <= box["y"]
                )
                assert apart, f"at {width}px '{name}' overlaps '{other}'"


@contextmanager
def unreachable_account(app: Flask, name: str) -> Iterator[tuple[Account, ScriptedSMTPServer]]:
    """A sending account whose server does not listen (until the test restarts it), so that
    beat's probe keeps a hold of it; the hold and the account are removed after."""
    server = ScriptedSMTPServer()
    server.start()
    server.stop()  # nothing listens on its port: connections are refused
    client = app.test_client()
    account_id = add_account(client, name, server)
    account = Account(name, SmtpSettings("127.0.0.1", server.port))
    try:
        yield account, server
    finally:
        release_account(app.config, account)
        client.delete(f"/api/v1/accounts/{account_id}")


@pytest.mark.browser
def test_a_held_account_is_said_at_the_top_of_the_page_on_a_phone_and_a_desk(
    page: Page, app: Flask, live_url: str
) -> None:
    """The banner of a held SMTP account is under the header, above the page's own content,
    in the first screenful at a phone's width as at a desktop's: not after <main>."""
    with unreachable_account(app, "hop-thu-dung") as (account, _):
        refused = AccountUnavailable(
            535, "5.7.8 Tên đăng nhập hoặc mật khẩu sai", login_refused=True
        )
        hold_account(app.config, refused, account)
        for width, height in ((390, 844), (1280, 800)):
            page.set_viewport_size({"width": width, "height": height})
            for path in ("/campaigns/", "/history/"):
                page.goto(live_url + path)
                banner = page.locator("#account-held")
                expect(banner).to_contain_text("hop-thu-dung at 127.0.0.1:")
                held, top = banner.bounding_box(), page.locator("header.top").bounding_box()
                content = page.locator("main").bounding_box()
                assert held and top and content
                assert top["y"] + top["height"] <= held["y"], (width, path)
                assert held["y"] + held["height"] <= content["y"], (width, path)
                assert held["y"] < height and held["width"] >= width - 1, (width, path)


@pytest.mark.browser
def test_the_hold_banner_comes_and_goes_without_a_reload(
    page: Page, app: Flask, live_url: str
) -> None:
    """A page that refreshes a part of itself (the statistics' system panel, every 5 s) brings
    the banner of an account held meanwhile, and takes it away once beat's probe finds the
    account answering again."""
    with unreachable_account(app, "hop-thu-sau") as (account, server):
        page.goto(live_url + "/stats/")
        expect(page.locator("#system-panel h3").first).to_be_visible()
        expect(page.locator("#account-held")).to_have_count(0)
        refused = AccountUnavailable(None, "ConnectionRefusedError", login_refused=False)
        hold_account(app.config, refused, account)  # as a worker that met it does
        expect(page.locator("#account-held")).to_contain_text(
            "hop-thu-sau at 127.0.0.1:", timeout=15_000
        )
        assert page.locator("#hold-banner").count() == 1  # swapped in place, not added
        server.restart()  # the probe logs in now, and lifts the hold
        try:
            expect(page.locator("#account-held")).to_have_count(0, timeout=20_000)
        finally:
            server.stop()
