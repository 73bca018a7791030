"""On a phone (390 px wide): the header's links fold behind a Menu button, each can be tapped
once it is opened, and no page scrolls sideways: wide tables scroll inside their own box.
Screenshots of each page at 390 and 1280 px go to SHOTS_DIR when it is set, for a person to look
at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from dashboard.extensions import db
from dashboard.models import User
from tests.caught_rows import caught_row, seed_caught, simple_mail
from tests.conftest import AdminIdentity, sign_in
from tests.history_rows import seed_campaign
from tests.test_browser import browser, console_errors, page  # noqa: F401  (fixtures)

PHONE = {"width": 390, "height": 844}
# Where a phone's page may start with the header's links folded: the brand's row (about 56 px).
MAX_FOLDED_HEADER_PX = 80
LONG_REPLY = (
    "5.7.1 Message rejected due to local policy: the recipient's mailbox is over quota and "
    "the server at mx1.example.vn refuses further mail for nguyen.van.a until it is emptied"
)

# Every header link's centre, with what the browser finds there when it is tapped.
TAPPABLE_LINKS = """() => [
  ...document.querySelectorAll('header a, nav.account a, nav.account button')]
  .map(el => { const r = el.getBoundingClientRect();
               const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
               return {text: el.textContent.trim(), visible: r.width > 0 && r.height > 0,
                       tappable: hit === el || el.contains(hit)}; })"""


def _pages(app: Flask, unique: str) -> dict[str, str]:
    campaign_id, message_ids = seed_campaign(
        app,
        [
            {
                "to_address": f"nguyen.van.a.{unique}@a-rather-long-domain-name.example.vn",
                "to_name": "Nguyễn Văn A",
                "status": "failed",
                "attempts": 3,
                "last_code": 552,
                "last_reply": LONG_REPLY,
                "failed_attempts": 1,
            },
            {"to_address": f"b-{unique}@example.vn", "status": "sent", "sent_attempts": 1},
        ],
        subject=f"Bản tin tháng 11 dành cho khách hàng thân thiết {unique}",
    )
    seed_caught(
        app,
        [
            caught_row(
                simple_mail(f"Thư rất dài {unique} " * 4, f"Khách <k-{unique}@example.vn>"),
                "shop@example.com",
                [f"k-{unique}@example.vn"],
            )
        ],
    )
    return {
        "compose": "/",
        "campaigns": "/campaigns/",
        "campaign": f"/campaigns/{campaign_id}",
        "history": "/history/",
        "message": f"/history/{message_ids[0]}",
        "statistics": "/stats/",
        "caught-mail": "/outbox/",
        "scheduled": "/scheduled/",
        "templates": "/templates/",
        "suppressions": "/suppressions/",
        "tokens": "/tokens",
        "users": "/users",
        "sending-accounts": "/accounts/",
        "webhooks": "/webhooks/",
        "audit": "/audit/",
    }


@pytest.mark.browser
def test_every_page_fits_a_phone_and_every_header_link_can_be_tapped(
    app: Flask,
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
    console_errors: list[str],  # noqa: F811
    unique: str,
) -> None:
    shots = Path(os.environ["SHOTS_DIR"]) if os.environ.get("SHOTS_DIR") else None
    problems = []
    for name, path in _pages(app, unique).items():
        for width in (1280, PHONE["width"]):
            page.set_viewport_size({"width": width, "height": PHONE["height"]})
            response = page.goto(live_url + path)
            assert response is not None and response.ok, f"{path}: {response and response.status}"
            if shots:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
            if width != PHONE["width"]:
                continue
            # Folded: the page starts under the brand's row, every link behind the Menu button.
            main_top = page.evaluate("document.querySelector('main').getBoundingClientRect().top")
            if main_top > MAX_FOLDED_HEADER_PX:
                problems.append(f"{path}: the page starts {main_top:.0f} px down")
            shown = [link["text"] for link in page.evaluate(TAPPABLE_LINKS)[1:] if link["visible"]]
            if shown:  # [0] is the brand
                problems.append(f"{path}: links shown before the menu is opened: {shown}")
            menu = page.locator("button.menu-toggle")
            menu.click()
            expect(menu).to_have_attribute("aria-expanded", "true")
            links = page.evaluate(TAPPABLE_LINKS)
            assert len(links) >= 10, links
            problems += [
                f"{path}: '{link['text']}' cannot be tapped"
                for link in links
                if not (link["visible"] and link["tappable"])
            ]
            scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
            if scroll_width > width:
                problems.append(f"{path}: the page is {scroll_width} px wide")
    assert not problems, "\n".join(problems)
    assert not console_errors


@pytest.mark.browser
def test_without_javascript_a_phone_shows_every_header_link_unfolded(
    browser: Browser,  # noqa: F811
    live_url: str,
    admin_identity: AdminIdentity,
) -> None:
    """The Menu button needs its script: without it there is no button, and no link hidden."""
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, live_url, admin_identity)
        page.goto(live_url + "/campaigns/")
        expect(page.locator("button.menu-toggle")).to_be_hidden()
        links = page.evaluate(TAPPABLE_LINKS)
        assert len(links) >= 10, links
        assert all(link["visible"] and link["tappable"] for link in links), links
    finally:
        context.close()


# How many lines each header row's links take: tops more than 8 px apart start a new line.
HEADER_ROWS = """() => {
  const lines = sel => [...document.querySelectorAll(sel)]
    .map(el => el.getBoundingClientRect().top).sort((a, b) => a - b)
    .filter((top, i, tops) => i === 0 || top - tops[i - 1] > 8);
  return {main: lines('header.top .brand, header.top nav a'),
          account: lines('.account-bar a, .account-bar button')};
}"""


@pytest.mark.browser
def test_the_header_is_two_rows_at_1280_px_in_both_languages(
    app: Flask,
    page: Page,  # noqa: F811  (signed in, as an admin: every link shown)
    live_url: str,
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    rows = {}
    with app.app_context():  # the switch saves a language; later tests need the admin's own
        languages = {
            row.id: row.language for row in db.session.execute(select(User.id, User.language))
        }
        db.session.rollback()
    try:
        for language in ("vi", "en"):
            page.goto(live_url + "/history/")
            page.locator(f".language-switch button[value={language}]").click()
            page.wait_for_url("**/history/")
            rows[language] = page.evaluate(HEADER_ROWS)
    finally:  # every user's language as it was (none: the browser's Accept-Language)
        with app.app_context():
            for user_id, language in languages.items():
                db.session.execute(update(User).where(User.id == user_id).values(language=language))
            db.session.commit()
    for language, found in rows.items():
        assert len(found["main"]) == 1, (language, found)  # brand and main links: one line
        assert len(found["account"]) == 1, (language, found)  # account links and language
        assert found["account"][0] > found["main"][0], (language, found)
