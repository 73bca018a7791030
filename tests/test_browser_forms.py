"""In a real browser, forms that help: a bad filter says so beside its field without a reload,
a destructive button asks first and says what it did, and a new token is shown once."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Dialog, Locator, Page, expect
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import ApiToken, Message
from tests.test_browser import browser, console_errors, page  # noqa: F401  (fixtures)


@pytest.mark.browser
def test_a_bad_date_in_the_history_filter_is_named_beside_its_field(
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
) -> None:
    page.goto(live_url + "/history/")
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#error-since")).to_be_hidden()
    page.fill("#since", "2026-13-45")
    page.press("#since", "Enter")
    expect(page.locator("#error-since")).to_be_visible()
    expect(page.locator("#error-since")).to_contain_text("is not a date like 2026-11-25")
    expect(page.locator("#history-results [role=alert]")).to_contain_text("since")
    if os.environ.get("SHOTS_DIR"):  # for a person to look at: the error beside its field
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{os.environ['SHOTS_DIR']}/history-bad-date-{width}.png")
    page.fill("#since", "2026-11-01")
    page.press("#since", "Enter")
    expect(page.locator("#error-since")).to_be_hidden()
    assert page.evaluate("window.__notReloaded") is True  # swapped in place both times


@pytest.mark.browser
def test_cancel_asks_first_and_says_what_it_did(
    app: Flask,
    client: FlaskClient,
    page: Page,  # noqa: F811
    live_url: str,
    unique: str,
    console_errors: list[str],  # noqa: F811
) -> None:
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    campaign_id = client.post(
        "/api/v1/emails",
        json={"to": f"hoa-{unique}@example.vn", "subject": "s", "text": "t", "send_at": due},
    ).json["id"]
    asked: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.goto(live_url + "/scheduled/")
    row = page.locator(f"#scheduled-{campaign_id}")
    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator("#flash")).to_have_count(0)
    assert asked == [f"Cancel campaign #{campaign_id}? Its messages will not be sent."]
    with app.app_context():
        assert db.session.scalar(select(Message.status).filter_by(campaign_id=campaign_id)) == (
            "scheduled"
        )

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator("#flash")).to_contain_text(
        f"Campaign #{campaign_id} is cancelled: 1 message(s) will not be sent."
    )
    expect(page.locator(f"#scheduled-{campaign_id}")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/scheduled/$"))
    assert len(asked) == 2 and not console_errors


@pytest.mark.browser
def test_a_new_token_is_shown_once_and_a_reload_makes_no_second_one(
    app: Flask,
    page: Page,  # noqa: F811
    live_url: str,
    unique: str,
) -> None:
    page.goto(live_url + "/tokens")
    page.fill("#name", f"billing {unique}")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token code")
    expect(secret).to_contain_text("edt_")
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    with app.app_context():
        made = db.session.scalars(select(ApiToken).filter_by(name=f"billing {unique}")).all()
    assert len(made) == 1


@pytest.mark.browser
def test_compose_names_the_bare_addresses_before_send(
    app: Flask,
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
    unique: str,
    console_errors: list[str],  # noqa: F811
) -> None:
    warning = _compose_to_one_named_and_one_bare(page, live_url, unique)
    expect(warning).to_contain_text(f"hoa-{unique}@example.vn")
    expect(warning).not_to_contain_text(f"lan-{unique}")
    page.check("#send_anyway")
    _send_and_find_both_sent(app, page, unique, console_errors)


def _compose_to_one_named_and_one_bare(tab: Page, live_url: str, unique: str) -> Locator:
    """Compose to `Lan <...>` and a bare address, with `{{ name }}` in the subject and the
    text; leave the text and wait for the warning it asks for (returned)."""
    tab.goto(live_url + "/")
    tab.fill("#to", f"Lan <lan-{unique}@example.vn>, hoa-{unique}@example.vn")
    tab.fill("#subject", f"Chào {{{{ name }}}} {unique}")
    tab.fill("#text", "Chào {{ name }}, hẹn gặp lại!")
    tab.press("#text", "Tab")  # leaving the field asks for the warnings
    warning = tab.locator("#compose-warnings #empty-fields")
    expect(warning).to_contain_text("is empty for 1 of 2 recipients")
    return warning


def _send_and_find_both_sent(app: Flask, tab: Page, unique: str, errors: list[str]) -> None:
    tab.click("form.compose button.primary")
    tab.wait_for_url(re.compile(r"/campaigns/\d+$"))
    with app.app_context():
        sent = db.session.scalars(select(Message).where(Message.to_address.contains(unique))).all()
    assert sorted(m.to_name for m in sent) == ["", "Lan"]
    assert not errors


@pytest.mark.browser
def test_a_send_anyway_ticked_while_the_warnings_are_asked_again_stays_ticked(
    app: Flask,
    page: Page,  # noqa: F811  (signed in)
    live_url: str,
    unique: str,
    console_errors: list[str],  # noqa: F811
) -> None:
    """The warnings are asked again whenever a field changes: an answer that was on its way
    when the person ticked "send anyway" must not untick it (the send would then be refused
    with the same warning)."""
    _compose_to_one_named_and_one_bare(page, live_url, unique)
    page.wait_for_load_state("networkidle")  # every warnings request of the typing answered

    held = []  # the next warnings request, answered only once the box is ticked
    page.route("**/compose/warnings", lambda route: held.append(route))
    page.fill("#text", "Chào {{ name }}, hẹn gặp lại sau!")
    page.press("#text", "Tab")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "changing the text asked for the warnings again"
    page.check("#send_anyway")
    with page.expect_response("**/compose/warnings"):
        held[0].continue_()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#send_anyway")).to_be_checked()

    page.unroute("**/compose/warnings")
    _send_and_find_both_sent(app, page, unique, console_errors)
