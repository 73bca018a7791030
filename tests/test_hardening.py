"""Security headers, cookies, the production switch, and secrets that never leave the server."""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient

from dashboard import create_app
from dashboard.auth import VIEWER, requires
from dashboard.auth.hardening import CONTENT_SECURITY_POLICY, InsecureConfiguration
from dashboard.config import DEFAULT_SECRET_KEY
from dashboard.extensions import db
from dashboard.models import MessageTemplate
from dashboard.ops.local_stack import process_env
from tests.auth_helpers import PASSWORD, form_csrf, make_user, sign_in
from tests.conftest import ROOT, AdminIdentity, AppFactory, app_config
from tests.test_access import every_route

GOOD_KEY = "k" * 48


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/campaigns/999", 404), ("/api/v1/emails/999", 404), ("/static/style.css", 200)],
)
def test_every_answer_carries_the_security_headers(
    client: FlaskClient, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    if not path.startswith("/static/"):
        assert headers["Cache-Control"] == "no-store"
    response.close()


def test_strangers_get_the_headers_too(anonymous_client: FlaskClient) -> None:
    for response in (anonymous_client.get("/login"), anonymous_client.get("/api/v1/emails/1")):
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_pages_load_no_inline_script_and_tell_htmx_not_to_inject_styles(
    client: FlaskClient,
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '"includeIndicatorStyles": false' in page
    assert "<script>" not in page and " on" + "click=" not in page
    assert "<script src=" in page


@pytest.mark.parametrize("key", [DEFAULT_SECRET_KEY, "", "short-key"])
def test_production_refuses_a_default_or_weak_secret_key(
    stack_settings: dict[str, str], migrated_database: str, key: str
) -> None:
    with pytest.raises(InsecureConfiguration, match="SECRET_KEY"):
        create_app({**app_config(stack_settings), "APP_ENV": "production", "SECRET_KEY": key})


def test_production_with_its_own_key_starts_with_secure_cookies(
    stack_settings: dict[str, str],
    migrated_database: str,
    make_app: AppFactory,
) -> None:
    config = {**app_config(stack_settings), "APP_ENV": "production", "SECRET_KEY": GOOD_KEY}
    config.pop("TESTING")
    app = make_app({**config, "SESSION_COOKIE_SECURE": True})
    response = FlaskClient(app, app.response_class).get("/login")
    assert "Secure" in response.headers["Set-Cookie"]


def test_the_command_line_refuses_to_start_production_with_the_default_key(
    stack_settings: dict[str, str], migrated_database: str
) -> None:
    env = process_env({**stack_settings, "APP_ENV": "production"})
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "routes"],
        cwd=ROOT,
        env={**env, "SECRET_KEY": DEFAULT_SECRET_KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "APP_ENV=production needs its own SECRET_KEY" in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "flask", "routes"],
        cwd=ROOT,
        env={**env, "SECRET_KEY": GOOD_KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr


def test_a_failed_database_write_still_gets_the_error_page_in_the_readers_language(
    stack_settings: dict[str, str], migrated_database: str, unique: str, make_app: AppFactory
) -> None:
    """A statement that fails leaves the session unusable; the error page reads the signed-in
    user through it, and without a rollback first it failed too: a bare 500 in English."""
    app = make_app(app_config(stack_settings))
    app.test_client_class = FlaskClient

    @app.get("/campaigns/broken-write")
    @requires(VIEWER)
    def broken_write():
        db.session.add(MessageTemplate())  # no name, no subject: NOT NULL fails at the flush
        db.session.flush()

    person = make_user(app, f"broken-write-{unique}@example.com")
    browser = app.test_client()
    sign_in(browser, person.email, PASSWORD)
    answer = browser.get("/campaigns/broken-write", headers={"Accept-Language": "vi"})
    assert answer.status_code == 500
    page = answer.get_data(as_text=True)
    assert "Hệ thống gặp lỗi; lỗi đã được ghi lại." in page
    assert person.email in page  # the page's header, read through the session again
    assert browser.get("/campaigns/").status_code == 200


def test_secrets_appear_in_no_page_no_api_answer_and_no_log_line(
    stack_settings: dict[str, str],
    worker: Path,
    admin_identity: AdminIdentity,
    caplog: pytest.LogCaptureFixture,
    unique: str,
    make_app: AppFactory,
) -> None:
    smtp_password, secret_key = f"smtp-pw-{unique}-Ư", f"secret-key-{unique}-" + "x" * 32
    app = make_app(
        {**app_config(stack_settings), "MAIL_PASSWORD": smtp_password, "SECRET_KEY": secret_key}
    )
    app.test_client_class = FlaskClient
    caplog.set_level(logging.DEBUG)

    @app.get("/api/v1/boom")
    @requires(VIEWER)
    def boom():
        raise RuntimeError(f"connect failed with {smtp_password}")

    person = make_user(app, f"secrets-{unique}@example.com", role="admin")
    browser = app.test_client()
    typed_in_the_wrong_field = f"{PASSWORD}-{unique}"
    sign_in(browser, typed_in_the_wrong_field, "x", ip="198.51.100.9")  # a password as email
    sign_in(browser, person.email, PASSWORD)
    created = browser.post(
        "/tokens",
        data={"csrf_token": form_csrf(browser, "/tokens"), "name": "leak check"},
        follow_redirects=True,
    )
    new_token = re.search(r"<code>(edt_[^<]+)</code>", created.get_data(as_text=True)).group(1)
    api = {"Authorization": f"Bearer {new_token}"}
    job = browser.post(
        "/api/v1/emails",
        json={"to": f"leak-{unique}@example.com", "subject": "s", "text": "t"},
        headers=api,
    ).json
    assert "id" in job, job

    answers = []
    for endpoint, method, url in every_route(app):
        if method == "GET" and endpoint != "static" and "{" not in url:
            url = url.replace("/1", f"/{job['id']}") if url.count("/1") == 1 else url
            # Buffered: a streamed answer (the CSV export) read later would pop its request
            # context after the requests made since, which Flask refuses.
            answers.append(browser.get(url, buffered=True))
            answers.append(browser.get(url, headers=api, buffered=True))
    answers += [
        browser.get(job["status_url"], headers=api),
        browser.get("/api/v1/boom", headers=api),
        browser.get("/campaigns/boom"),
        browser.post("/api/v1/emails", data="{", content_type="application/json", headers=api),
    ]
    assert answers[-3].status_code == 500
    assert sum(r.status_code == 200 for r in answers) >= 8  # real pages, not just errors
    secrets = {smtp_password, secret_key, new_token, PASSWORD, admin_identity.token}
    for response in answers:
        body = response.get_data(as_text=True) + str(response.headers)
        for secret in secrets:
            assert secret not in body, f"{secret!r} in {response.request.path}"
    log_text = "\n".join(
        r.getMessage() for r in caplog.records if "connect failed with" not in r.getMessage()
    )
    for secret in (*secrets, typed_in_the_wrong_field):
        assert secret not in log_text


def setting_seen_by_a_new_process(name: str, instance: Path, value: str | None = None) -> str:
    """The setting `name` as a new process with this instance folder loads it: from `value`,
    or with `name` unset in its environment when None."""
    env = {k: v for k, v in os.environ.items() if k != name}
    if value is not None:
        env[name] = value
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from dashboard.config import load_settings as s; print(s()[{name!r}])",
        ],
        cwd=ROOT,
        env={**env, "INSTANCE_DIR": str(instance)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_without_a_secret_key_each_installation_makes_its_own_and_keeps_it(
    tmp_path: Path,
) -> None:
    """The quick start must not sign sessions and the setup link with a key printed in the
    repository; web, workers and beat sharing an instance folder must agree on theirs."""

    def key_seen_by_a_new_process(instance: Path) -> str:
        return setting_seen_by_a_new_process("SECRET_KEY", instance)

    first = key_seen_by_a_new_process(tmp_path / "one")
    assert len(first) >= 64 and first != DEFAULT_SECRET_KEY
    assert key_seen_by_a_new_process(tmp_path / "one") == first  # kept across restarts
    assert key_seen_by_a_new_process(tmp_path / "two") != first  # another installation
    assert stat.S_IMODE((tmp_path / "one" / "secret_key").stat().st_mode) == 0o600


def test_without_account_keys_each_installation_makes_a_fernet_key_and_keeps_it(
    tmp_path: Path,
) -> None:
    """`make run` must take an account's password without a key set by hand; once ACCOUNT_KEYS
    is set, the key made before still opens what it sealed, after the configured ones."""

    def keys_seen_by_a_new_process(instance: Path, configured: str | None = None) -> list[str]:
        return setting_seen_by_a_new_process("ACCOUNT_KEYS", instance, configured).split(",")

    fresh = tmp_path / "fresh"
    assert keys_seen_by_a_new_process(fresh, "  ") != [""]  # blank is unset
    [made] = keys_seen_by_a_new_process(fresh)
    Fernet(made.encode())  # a real key: raises otherwise
    assert keys_seen_by_a_new_process(fresh) == [made]  # kept across restarts
    assert keys_seen_by_a_new_process(tmp_path / "other") != [made]  # another installation
    assert stat.S_IMODE((fresh / "account_key").stat().st_mode) == 0o600
    configured = Fernet.generate_key().decode()
    assert keys_seen_by_a_new_process(fresh, configured) == [configured, made]
    # Configured from the start: nothing is made in the folder.
    assert keys_seen_by_a_new_process(tmp_path / "set", configured) == [configured]
    assert not (tmp_path / "set" / "account_key").exists()
