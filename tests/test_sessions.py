"""Sessions that end: signing out, a new password, disabling a user and an admin's "sign out
everywhere" each end every session of that person, copies of the cookie included."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from dashboard.ops.local_stack import process_env
from tests.auth_helpers import PASSWORD, Person, form_csrf, make_user, sign_in
from tests.conftest import ROOT

NEW_PASSWORD = "another long enough password"


def signed_in_pair(app: Flask, person: Person) -> tuple[FlaskClient, FlaskClient]:
    """The person's browser, and an attacker's client holding a copy of its session cookie."""
    browser = FlaskClient(app, app.response_class)
    assert sign_in(browser, person.email, PASSWORD).status_code == 302
    thief = FlaskClient(app, app.response_class)
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    thief.set_cookie(cookie.key, cookie.value)
    assert thief.get("/campaigns/").status_code == 200  # the copy works, as a copy does
    return browser, thief


def sign_out(
    app: Flask, browser: FlaskClient, client: FlaskClient, person: Person, settings: dict[str, str]
) -> None:
    answer = browser.post("/logout", data={"csrf_token": form_csrf(browser, "/campaigns/")})
    assert answer.status_code == 302


def change_password(
    app: Flask, browser: FlaskClient, client: FlaskClient, person: Person, settings: dict[str, str]
) -> None:
    answer = browser.post(
        "/account/password",
        data={
            "csrf_token": form_csrf(browser, "/account/password"),
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert answer.status_code == 200
    assert 'id="password-changed"' in answer.get_data(as_text=True)
    assert browser.get("/campaigns/").status_code == 200  # who changed it stays signed in


def disable(
    app: Flask, browser: FlaskClient, client: FlaskClient, person: Person, settings: dict[str, str]
) -> None:
    answer = client.post(
        f"/users/{person.id}/disable", data={"csrf_token": form_csrf(client, "/users")}
    )
    assert answer.status_code == 302


def admin_signs_out_everywhere(
    app: Flask, browser: FlaskClient, client: FlaskClient, person: Person, settings: dict[str, str]
) -> None:
    answer = client.post(
        f"/users/{person.id}/sign-out", data={"csrf_token": form_csrf(client, "/users")}
    )
    assert answer.status_code == 302
    assert browser.get("/campaigns/").status_code == 302


def cli_signs_out(
    app: Flask, browser: FlaskClient, client: FlaskClient, person: Person, settings: dict[str, str]
) -> None:
    env = process_env(settings)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "users", "sign-out", person.email],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert browser.get("/campaigns/").status_code == 302


@pytest.mark.parametrize(
    "end", [sign_out, change_password, disable, admin_signs_out_everywhere, cli_signs_out]
)
def test_a_copied_session_cookie_stops_working(
    app: Flask,
    client: FlaskClient,
    unique: str,
    stack_settings: dict[str, str],
    end: Callable[..., None],
) -> None:
    person = make_user(app, f"{end.__name__}-{unique}@example.com")
    browser, thief = signed_in_pair(app, person)
    end(app, browser, client, person, stack_settings)
    for path in ("/campaigns/", "/history/", "/tokens"):
        assert thief.get(path).status_code == 302, path
    assert thief.get("/api/v1/stats").status_code == 401  # nor does the API take the copy


def test_a_wrong_current_password_changes_nothing(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"keeps-{unique}@example.com")
    sign_in(anonymous_client, person.email, PASSWORD)
    answer = anonymous_client.post(
        "/account/password",
        data={
            "csrf_token": form_csrf(anonymous_client, "/account/password"),
            "current": "not it at all",
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert answer.status_code == 422
    assert "not your current password" in answer.get_data(as_text=True)
    assert anonymous_client.get("/campaigns/").status_code == 200
    other = FlaskClient(app, app.response_class)
    assert sign_in(other, person.email, PASSWORD).status_code == 302


class _SignedLongAgo(TimestampSigner):
    hours = 0

    def get_timestamp(self) -> int:
        return int(time.time()) - self.hours * 3600


def _form_token_from(app: Flask, browser: FlaskClient, hours_ago: int) -> str:
    """The token a page would have carried had it been opened `hours_ago` hours ago."""
    form_csrf(browser, "/")  # the session's CSRF secret exists
    with browser.session_transaction() as session:
        raw = session["csrf_token"]
    signer = type("Signer", (_SignedLongAgo,), {"hours": hours_ago})
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.config["SECRET_KEY"]
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token", signer=signer).dumps(raw)


def test_a_form_open_for_hours_is_still_taken_while_the_sign_in_lasts(
    app: Flask, unique: str
) -> None:
    person = make_user(app, f"long-lunch-{unique}@example.vn")
    browser = FlaskClient(app, app.response_class)
    assert sign_in(browser, person.email, PASSWORD).status_code == 302
    email = {"to": f"lan-{unique}@example.vn", "subject": f"Viết lâu {unique}", "text": "Chào"}
    lasts = app.config["SESSION_LIFETIME_HOURS"]

    written_over_lunch = _form_token_from(app, browser, hours_ago=2)
    sent = browser.post("/", data={**email, "csrf_token": written_over_lunch})
    assert sent.status_code == 302, sent.get_data(as_text=True)

    older_than_the_sign_in = _form_token_from(app, browser, hours_ago=lasts + 1)
    refused = browser.post("/", data={**email, "csrf_token": older_than_the_sign_in})
    assert refused.status_code == 400
    assert "This form has expired" in refused.get_data(as_text=True)
