"""Signing in: the form, its rate limit in Redis, the one-time setup page, the users page and
the CLI that does what the pages do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.security import check_password_hash

from dashboard.auth.accounts import find_user
from dashboard.auth.setup_link import setup_token
from dashboard.auth.tokens import hash_token
from dashboard.extensions import db
from dashboard.models import ApiToken, User
from dashboard.ops.local_stack import process_env
from tests.auth_helpers import PASSWORD, errors_by_field, form_csrf, make_user, sign_in
from tests.conftest import ROOT, AppFactory, app_config, migrate


def test_sign_in_with_the_right_password_opens_the_dashboard(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"Lan-{unique}@Example.com")
    response = sign_in(anonymous_client, person.email.upper(), PASSWORD, next="/campaigns/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/campaigns/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = anonymous_client.get("/campaigns/").get_data(as_text=True)
    assert "Sign out" in page and person.email in page
    with app.app_context():
        assert find_user(person.email).last_login_at is not None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(
    app: Flask, anonymous_client: FlaskClient, unique: str, target: str
) -> None:
    person = make_user(app, f"redirect-{unique}@example.com")
    response = sign_in(anonymous_client, person.email, PASSWORD, next=target)
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_address_get_the_same_answer(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"same-{unique}@example.com")
    wrong = sign_in(anonymous_client, person.email, "not the password", ip="198.51.100.1")
    nobody = sign_in(anonymous_client, f"nobody-{unique}@example.com", "x", ip="198.51.100.1")
    for response in (wrong, nobody):
        assert response.status_code == 401
        assert "Wrong email or password" in response.get_data(as_text=True)
    assert anonymous_client.get("/").status_code == 302


def test_signing_out_ends_the_session(app: Flask, anonymous_client: FlaskClient, unique: str):
    person = make_user(app, f"out-{unique}@example.com")
    sign_in(anonymous_client, person.email, PASSWORD)
    response = anonymous_client.post(
        "/logout", data={"csrf_token": form_csrf(anonymous_client, "/")}
    )
    assert response.status_code == 302
    assert anonymous_client.get("/").status_code == 302


def test_failed_sign_ins_are_limited_per_address_across_processes(
    app: Flask,
    anonymous_client: FlaskClient,
    unique: str,
    stack_settings: dict[str, str],
    make_app: AppFactory,
) -> None:
    person = make_user(app, f"target-{unique}@example.com")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    for attempt in range(limit):  # from a new IP each time: the per-IP limit is not what bites
        response = sign_in(anonymous_client, person.email, "guess", ip=f"192.0.2.{attempt + 1}")
        assert response.status_code == 401
    # Another web process (its own app, its own client) sees the same count in Redis.
    other_app = make_app(app_config(stack_settings))
    other = FlaskClient(other_app, other_app.response_class)
    blocked = sign_in(other, person.email, PASSWORD, ip="192.0.2.200")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert other.get("/").status_code == 302  # the right password did not get in meanwhile


def test_failed_sign_ins_are_limited_per_ip(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"ip-{unique}@example.com")
    ip = f"203.0.113.{int(unique, 16) % 250 + 1}"
    client_redis = redis.Redis.from_url(app.config["REDIS_URL"])
    client_redis.delete(f"dispatcher:login-failures:ip:{ip}")
    for attempt in range(app.config["LOGIN_MAX_FAILURES_PER_IP"]):
        sign_in(anonymous_client, f"spray{attempt}-{unique}@example.com", "guess", ip=ip)
    assert sign_in(anonymous_client, person.email, PASSWORD, ip=ip).status_code == 429
    assert sign_in(anonymous_client, person.email, PASSWORD, ip="198.51.100.77").status_code == 302
    client_redis.close()


def test_sign_in_is_refused_when_the_limiter_cannot_count(
    stack_settings: dict[str, str],
    worker: Path,
    unique: str,
    make_app: AppFactory,
) -> None:
    app = make_app({**app_config(stack_settings), "REDIS_URL": "redis://127.0.0.1:1/0"})
    person = make_user(app, f"noredis-{unique}@example.com")
    response = sign_in(FlaskClient(app, app.response_class), person.email, PASSWORD)
    assert response.status_code == 503
    assert "Signing in is unavailable" in response.get_data(as_text=True)


def test_a_disabled_users_open_session_ends_at_once(
    app: Flask, client: FlaskClient, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"leaver-{unique}@example.com")
    sign_in(anonymous_client, person.email, PASSWORD)
    assert anonymous_client.get("/").status_code == 200
    response = client.post(
        f"/users/{person.id}/disable", data={"csrf_token": form_csrf(client, "/users")}
    )
    assert response.status_code == 302
    assert anonymous_client.get("/").status_code == 302
    assert sign_in(anonymous_client, person.email, PASSWORD).status_code == 401
    page = client.get("/users").get_data(as_text=True)
    assert re.search(
        rf"{re.escape(person.email)}</td>\s*<td>sender</td>\s*<td><span[^>]*>disabled", page
    )


def test_an_admin_adds_a_user_who_can_then_sign_in(
    app: Flask, client: FlaskClient, anonymous_client: FlaskClient, unique: str
) -> None:
    email = f"new-{unique}@example.com"
    token = form_csrf(client, "/users")
    short = client.post("/users", data={"csrf_token": token, "email": email, "password": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.get_data(as_text=True)
    added = client.post("/users", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert added.status_code == 302
    again = client.post("/users", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert "there is already a user" in again.get_data(as_text=True)
    assert sign_in(anonymous_client, email, PASSWORD).status_code == 302
    with app.app_context():
        stored = find_user(email).password_hash
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_only_admins_see_the_users_page(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"plain-{unique}@example.com")
    sign_in(anonymous_client, person.email, PASSWORD)
    assert anonymous_client.get("/users").status_code == 403
    response = anonymous_client.post(
        "/users",
        data={"csrf_token": form_csrf(anonymous_client, "/"), "email": "x@example.com"},
    )
    assert response.status_code == 403
    assert 'href="/users"' not in anonymous_client.get("/").get_data(as_text=True)


def test_a_token_is_shown_once_and_only_its_hash_is_kept(
    app: Flask, client: FlaskClient, anonymous_client: FlaskClient
) -> None:
    created = client.post(
        "/tokens", data={"csrf_token": form_csrf(client, "/tokens"), "name": "billing"}
    )
    assert created.status_code == 303  # a reload of the page cannot make a second token
    shown = client.get(created.headers["Location"])
    assert shown.headers["Cache-Control"] == "no-store"
    secret = re.search(r"<code>(edt_[^<]+)</code>", shown.get_data(as_text=True)).group(1)
    assert secret not in client.get("/tokens").get_data(as_text=True)  # shown once, then gone
    with app.app_context():
        row = db.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
        ).one()
        assert row.name == "billing" and secret not in (row.token_hash, row.prefix)
    used = anonymous_client.get("/api/v1/emails/999", headers={"Authorization": f"Bearer {secret}"})
    assert used.status_code == 404


@pytest.fixture
def fresh_app(
    fresh_database_url: str,
    make_app: AppFactory,
    stack_settings: dict[str, str],
    worker: Path,
) -> Flask:
    """An app on a new, empty database of the session's engine, migrated as `make run` does:
    the state of a first run."""
    migrate({**stack_settings, "DATABASE_URL": fresh_database_url})
    return make_app(app_config({**stack_settings, "DATABASE_URL": fresh_database_url}))


def test_setup_page_creates_the_first_admin_once(fresh_app: Flask) -> None:
    app = fresh_app
    client = FlaskClient(app, app.response_class)
    assert "No account exists yet" in client.get("/login").get_data(as_text=True)
    assert client.get("/setup").status_code == 403
    assert client.get("/setup?token=wrong").status_code == 403
    link = f"/setup?token={setup_token(app)}"
    page = client.get(link)
    assert page.status_code == 200
    csrf = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    form = {"csrf_token": csrf.group(1), "token": setup_token(app), "email": "Chi@Example.vn"}
    mismatch = client.post("/setup", data={**form, "password": PASSWORD, "confirm": "other"})
    assert mismatch.status_code == 422 and "differ" in mismatch.get_data(as_text=True)
    every = client.post("/setup", data={**form, "email": "chi@", "password": "x", "confirm": "y"})
    assert every.status_code == 422
    assert errors_by_field(every) == {
        "email": "that is not a valid email address: There must be something after the @-sign.",
        "password": "the password must be at least 10 characters long",
        "confirm": "the two passwords differ",
    }
    made = client.post("/setup", data={**form, "password": PASSWORD, "confirm": PASSWORD})
    assert made.status_code == 302
    assert client.get("/users").status_code == 200  # signed in as the new admin
    assert client.get(link).status_code == 404  # and the page is gone for good
    form["csrf_token"] = form_csrf(client, "/")  # a valid token of the new session
    again = client.post("/setup", data={**form, "password": PASSWORD, "confirm": PASSWORD})
    assert again.status_code == 404
    with app.app_context():
        [admin] = db.session.scalars(select(User)).all()
        assert admin.email == "chi@example.vn" and admin.is_admin


def test_cli_creates_an_admin_and_manages_tokens(fresh_app: Flask) -> None:
    app = fresh_app
    runner = app.test_cli_runner()
    weak = runner.invoke(
        args=["create-admin", "--email", "ops@example.com"], input="short\nshort\n"
    )
    assert weak.exit_code == 2 and "at least 10 characters" in weak.output
    made = runner.invoke(
        args=["create-admin", "--email", "ops@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert made.exit_code == 0, made.output
    assert PASSWORD not in made.output

    created = runner.invoke(args=["tokens", "create", "--user", "ops@example.com", "--name", "ci"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    client = FlaskClient(app, app.response_class)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/emails/1", headers=bearer).status_code == 404

    listed = runner.invoke(args=["tokens", "list"])
    assert "ci" in listed.output and secret not in listed.output
    token_id = listed.output.split("\t", 1)[0]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    assert client.get("/api/v1/emails/1", headers=bearer).status_code == 401

    nobody = runner.invoke(args=["tokens", "create", "--user", "who@example.com", "--name", "x"])
    assert nobody.exit_code == 2 and "no active user" in nobody.output
    assert runner.invoke(args=["users", "disable", "ops@example.com"]).exit_code == 2  # last admin


def test_make_run_tells_the_console_how_to_create_the_first_admin(
    fresh_app: Flask, stack_settings: dict[str, str]
) -> None:
    """`run.py` (what `make run` runs), without a terminal on stdin as in CI: a hint, no prompt."""
    app = fresh_app
    env = process_env({**stack_settings, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]})
    script = "import os, run; print(run.first_admin_hint(dict(os.environ), '5077'))"
    hint = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert hint.returncode == 0, hint.stderr
    assert f"http://localhost:5077/setup?token={setup_token(app)}" in hint.stdout
    assert "create-admin --email" in hint.stdout
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["create-admin", "--email", "a@example.com"], input=f"{PASSWORD}\n" * 2
    )
    assert made.exit_code == 0, made.output
    after = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.stdout.strip().splitlines()[-1] == "None"


def test_the_account_forms_and_commands_name_every_problem_at_once(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    """Adding a user (page and command), setting up the first admin and changing one's password
    say what is wrong with every field together, and change nothing."""
    added = client.post(
        "/users",
        data={"csrf_token": form_csrf(client, "/users"), "email": "an@", "password": "x"},
    )
    assert added.status_code == 422
    shown = errors_by_field(added)
    assert set(shown) == {"email", "password"}, shown

    runner = app.test_cli_runner()
    command = ["users", "add", "an@", "--role", "viewer", "--password", "x"]
    said = runner.invoke(args=command)
    assert said.exit_code == 2
    assert "error: email: " in said.output and "error: password: " in said.output

    person = make_user(app, f"every-{unique}@example.com")
    browser = FlaskClient(app, app.response_class)
    assert sign_in(browser, person.email, PASSWORD).status_code == 302
    changed = browser.post(
        "/account/password",
        data={
            "csrf_token": form_csrf(browser, "/account/password"),
            "current": "not it",
            "new": "short",
            "confirm": "other",
        },
    )
    assert changed.status_code == 422
    shown = errors_by_field(changed)
    assert set(shown) == {"current", "new", "confirm"}, shown
    with app.app_context():
        assert find_user("an@") is None
        user = db.session.get(User, person.id)
        assert user is not None and check_password_hash(user.password_hash, PASSWORD)
