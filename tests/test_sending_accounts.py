"""Sending accounts through the API, the page and the CLI: secrets sealed at rest with Fernet
and never shown again, every field's problem named at once, key rotation, a campaign naming an
account or pool, and XOAUTH2 against a loopback token endpoint and SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard import config
from dashboard.extensions import db
from dashboard.mail.oauth import OAuthClient
from dashboard.mail.smtp import AccountUnavailable, SmtpSettings, try_account
from dashboard.models import Campaign, SendingAccount
from dashboard.sending.accounts.secrets import unseal
from tests.auth_helpers import errors_by_field, form_csrf
from tests.conftest import AppFactory, app_config
from tests.csv_campaign_helpers import upload
from tests.smtp_server import ScriptedSMTPServer
from tests.token_endpoint import TokenEndpoint

PASSWORD = "app-password-Ư-s3cr3t"
KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()


@pytest.fixture
def keyed_app(app: Flask, make_app: AppFactory, stack_settings: dict[str, str]) -> Flask:
    """The test's app, with ACCOUNT_KEYS set (signed in as the test admin)."""
    keyed = make_app({**app_config(stack_settings), "ACCOUNT_KEYS": KEY_1})
    keyed.test_client_class = app.test_client_class
    return keyed


@pytest.fixture
def api(keyed_app: Flask) -> FlaskClient:
    return keyed_app.test_client()


def account_json(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "host": "smtp.example.com",
        "port": 587,
        "username": "sender@example.com",
        "password": PASSWORD,
        **fields,
    }


def stored(app: Flask, name: str) -> SendingAccount:
    with app.app_context():
        row = db.session.scalar(select(SendingAccount).where(SendingAccount.name == name))
        db.session.expunge(row)
        return row


def test_an_accounts_password_is_sealed_and_never_shown_again(
    api: FlaskClient, keyed_app: Flask, unique: str
) -> None:
    name = f"sales-{unique}"
    created = api.post("/api/v1/accounts", json=account_json(name, from_allowed=["@Example.com"]))
    assert created.status_code == 201, created.get_data(as_text=True)
    answer = created.json
    assert answer["has_secret"] is True and answer["from_allowed"] == ["@example.com"]
    assert "password" not in answer and PASSWORD not in created.get_data(as_text=True)

    row = stored(keyed_app, name)
    assert PASSWORD not in row.secret and row.secret.startswith("gAAAA")  # a Fernet token
    assert unseal({"ACCOUNT_KEYS": KEY_1}, row.secret) == {"password": PASSWORD}

    listed = api.get("/api/v1/accounts")
    assert name in [a["name"] for a in listed.json["accounts"]]
    assert PASSWORD not in listed.get_data(as_text=True)

    # Changed without a password: the stored one stays.
    changed = api.put(
        f"/api/v1/accounts/{answer['id']}", json={**account_json(name), "password": None}
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert unseal({"ACCOUNT_KEYS": KEY_1}, stored(keyed_app, name).secret) == {"password": PASSWORD}
    for page in ("/accounts/", f"/accounts/{answer['id']}"):
        html = api.get(page).get_data(as_text=True)
        assert name in html and PASSWORD not in html


def test_every_problem_of_an_account_is_named_at_once(api: FlaskClient) -> None:
    refused = api.post(
        "/api/v1/accounts",
        json=account_json(
            "bad name!", port=0, tls_mode="ssl", from_allowed=["not an address"], per_day=-1
        ),
    )
    assert refused.status_code == 422
    assert set(refused.json["error"]["fields"]) == {
        "name",
        "port",
        "tls_mode",
        "from_allowed",
        "per_day",
    }
    oauth = api.post(
        "/api/v1/accounts",
        json={"name": "oauth-missing", "host": "smtp.gmail.com", "auth": "xoauth2"},
    )
    assert oauth.status_code == 422
    assert set(oauth.json["error"]["fields"]) == {
        "username",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_refresh_token",
    }


def test_a_bad_field_does_not_hide_what_the_stored_accounts_refuse(
    api: FlaskClient, unique: str
) -> None:
    """Every field's problem at once, those found against the stored accounts and pools too: a
    taken name beside a bad host, what XOAUTH2 needs beside a bad port, an unknown account
    beside a bad pool name (each was said only after the others were mended)."""
    name = f"taken-{unique}"
    assert api.post("/api/v1/accounts", json=account_json(name)).status_code == 201
    try:
        both = api.post("/api/v1/accounts", json=account_json(name.upper(), host="smtp example"))
        assert both.status_code == 422
        assert set(both.json["error"]["fields"]) == {"name", "host"}
        assert "already has this name" in both.json["error"]["fields"]["name"]
        oauth = api.post(
            "/api/v1/accounts",
            json={"name": f"o-{unique}", "host": "smtp.gmail.com", "port": 0, "auth": "xoauth2"},
        )
        assert set(oauth.json["error"]["fields"]) == {
            "port",
            "username",
            "oauth_client_id",
            "oauth_client_secret",
            "oauth_refresh_token",
        }
        pool = api.post("/api/v1/pools", json={"name": "bad name!", "accounts": [f"no-{unique}"]})
        assert pool.status_code == 422
        assert set(pool.json["error"]["fields"]) == {"name", "accounts"}
        assert f"no-{unique}" in pool.json["error"]["fields"]["accounts"]
        nul = api.post("/api/v1/pools", json={"name": "bad name!", "accounts": ["a\x00b"]})
        assert nul.status_code == 422  # not looked up: PostgreSQL refuses a NUL in text
        assert set(nul.json["error"]["fields"]) == {"name", "accounts"}
        renamed = api.put(
            f"/api/v1/accounts/{_account_id(api, name)}",
            json=account_json(name, host="smtp example", per_day=-1),
        )
        assert set(renamed.json["error"]["fields"]) == {"host", "per_day"}  # its own name: free
    finally:
        api.delete(f"/api/v1/accounts/{_account_id(api, name)}")


def _account_id(api: FlaskClient, name: str) -> int:
    (account,) = [a for a in api.get("/api/v1/accounts").json["accounts"] if a["name"] == name]
    return account["id"]


def test_with_no_account_key_at_all_no_secret_is_stored(
    app: Flask, make_app: AppFactory, stack_settings: dict[str, str], unique: str
) -> None:
    """ACCOUNT_KEYS unset and an instance folder that could not hold a key of its own."""
    keyless = make_app({**app_config(stack_settings), "ACCOUNT_KEYS": ""})
    keyless.test_client_class = app.test_client_class
    name = f"nokey-{unique}"
    refused = keyless.test_client().post("/api/v1/accounts", json=account_json(name))
    assert refused.status_code == 422
    assert "ACCOUNT_KEYS is not set" in refused.json["error"]["fields"]["password"]
    with keyless.app_context():
        assert db.session.scalar(select(SendingAccount).where(SendingAccount.name == name)) is None


def test_the_instance_folders_key_seals_until_account_keys_is_set_and_rotated(
    app: Flask,
    make_app: AppFactory,
    stack_settings: dict[str, str],
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A quick start (no ACCOUNT_KEYS) saves a password under the instance folder's own key; a
    host that sets ACCOUNT_KEYS later still reads it, and `rotate-key` moves it to that key."""
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)

    def app_with(keys: str) -> Flask:
        made = make_app({**app_config(stack_settings), "ACCOUNT_KEYS": keys})
        made.test_client_class = app.test_client_class
        return made

    quick = app_with(config.account_keys_setting(""))
    instance_key = (tmp_path / "account_key").read_text().strip()
    name = f"quick-{unique}"
    assert quick.test_client().post("/api/v1/accounts", json=account_json(name)).status_code == 201
    secret = stored(quick, name).secret
    assert unseal({"ACCOUNT_KEYS": instance_key}, secret) == {"password": PASSWORD}

    # KEY_1 too: the command seals every account again, the other tests' included.
    configured = app_with(config.account_keys_setting(f"{KEY_2},{KEY_1}"))
    with configured.app_context():
        assert unseal(configured.config, stored(configured, name).secret) == {"password": PASSWORD}
        result = configured.test_cli_runner().invoke(args=["accounts", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert unseal({"ACCOUNT_KEYS": KEY_2}, stored(configured, name).secret) == {
        "password": PASSWORD
    }


def test_rotate_key_seals_every_secret_with_the_new_key(
    api: FlaskClient, make_app: AppFactory, stack_settings: dict[str, str], unique: str
) -> None:
    name = f"rotate-{unique}"
    assert api.post("/api/v1/accounts", json=account_json(name)).status_code == 201
    both = make_app({**app_config(stack_settings), "ACCOUNT_KEYS": f"{KEY_2},{KEY_1}"})
    with both.app_context():  # the command runs in this app, with both keys
        result = both.test_cli_runner().invoke(args=["accounts", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "sealed" in result.output and PASSWORD not in result.output
    secret = stored(both, name).secret
    assert unseal({"ACCOUNT_KEYS": KEY_2}, secret) == {"password": PASSWORD}  # the old key goes
    with both.app_context():
        listed = both.test_cli_runner().invoke(args=["accounts", "list"])
    assert name in listed.output and PASSWORD not in listed.output


def test_an_email_names_an_account_or_a_pool_that_may_send_as_its_sender(
    api: FlaskClient, keyed_app: Flask, unique: str
) -> None:
    name, pool = f"only-vn-{unique}", f"pool-{unique}"
    api.post("/api/v1/accounts", json=account_json(name, from_allowed=["@example.vn"]))
    assert api.post("/api/v1/pools", json={"name": pool, "accounts": [name]}).status_code == 201

    unknown = api.post(
        "/api/v1/emails",
        json={"to": "a@example.com", "subject": "s", "text": "t", "account": f"nobody-{unique}"},
    )
    assert unknown.status_code == 422
    assert "no sending account or pool" in unknown.json["error"]["fields"]["account"]
    for via in (name, pool):
        refused = api.post(
            "/api/v1/emails",
            json={"to": "a@example.com", "subject": "s", "text": "t", "account": via},
        )
        assert refused.status_code == 422
        assert (
            "may not send as dispatcher@example.com" in refused.json["error"]["fields"]["account"]
        )
    bad_pool = api.post("/api/v1/pools", json={"name": f"p2-{unique}", "accounts": ["ghost"]})
    assert bad_pool.status_code == 422 and "ghost" in bad_pool.json["error"]["fields"]["accounts"]

    accepted = api.post(
        "/api/v1/emails",
        json={
            "to": "a@example.vn",
            "subject": "s",
            "text": "t",
            "from": "shop@example.vn",
            "account": pool,
            "send_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
    )
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    with keyed_app.app_context():
        campaign = db.session.get(Campaign, accepted.json["id"])
        assert campaign.pool_id is not None and campaign.account_id is None
    # A pool a campaign went through stays, for its history.
    pool_id = api.get("/api/v1/accounts").json["pools"]
    pool_id = next(p["id"] for p in pool_id if p["name"] == pool)
    assert api.delete(f"/api/v1/pools/{pool_id}").status_code == 409


def test_the_page_adds_an_account_and_names_every_problem(
    api: FlaskClient, keyed_app: Flask, unique: str
) -> None:
    token = form_csrf(api, "/accounts/")
    form = {
        "csrf_token": token,
        "name": "",
        "host": "smtp.example.com",
        "port": "nope",
        "tls_mode": "starttls",
        "username": "u@example.com",
        "auth": "password",
        "password": PASSWORD,
        "oauth_token_url": "https://oauth2.googleapis.com/token",
        "per_second": "1",
        "per_day": "100",
    }
    refused = api.post("/accounts/", data=form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert html.count('class="error"') >= 2 and PASSWORD not in html
    # The page shown again has an empty password field: sent so, it is refused, not stored.
    mended = {**form, "name": f"page-{unique}", "port": "587"}
    blank = api.post("/accounts/", data={**mended, "password": ""})
    assert blank.status_code == 422
    assert errors_by_field(blank) == {"password": "a user name needs its password"}
    added = api.post("/accounts/", data=mended)
    assert added.status_code == 302
    page = api.get("/accounts/").get_data(as_text=True)
    assert f"page-{unique}" in page and PASSWORD not in page


@pytest.fixture
def bearer_server() -> Iterator[ScriptedSMTPServer]:
    server = ScriptedSMTPServer(bearer=("me@example.com", "ya29.token"))
    server.start()
    yield server
    server.stop()


def test_xoauth2_takes_a_token_once_and_a_refused_refresh_token_is_a_refused_login(
    bearer_server: ScriptedSMTPServer,
) -> None:
    with TokenEndpoint(
        client_id="cid", client_secret="csecret", refresh_token="rt-1", token="ya29.token"
    ) as endpoint:

        def settings(refresh: str) -> SmtpSettings:
            return SmtpSettings(
                "127.0.0.1",
                bearer_server.port,
                username="me@example.com",
                oauth=OAuthClient("cid", "csecret", refresh, endpoint.url),
            )

        try_account(settings("rt-1"))
        try_account(settings("rt-1"))
        assert len(endpoint.requests) == 1  # cached until it expires
        assert bearer_server.handler.bearer_logins == ["ya29.token", "ya29.token"]
        with pytest.raises(AccountUnavailable) as refused:
            try_account(settings("rt-revoked"))
        assert refused.value.login_refused
        assert "400 invalid_grant" in str(refused.value) and "rt-revoked" not in str(refused.value)


def test_the_compose_form_names_an_account_it_may_not_use(api: FlaskClient, unique: str) -> None:
    response = api.post(
        "/",
        data={
            "csrf_token": form_csrf(api, "/"),
            "to": "a@example.com",
            "subject": "Chào",
            "text": "Xin chào",
            "account": f"nobody-{unique}",
        },
    )
    assert response.status_code == 422
    assert "no sending account or pool is called" in response.get_data(as_text=True)


def test_the_page_adds_a_pool_of_named_accounts(api: FlaskClient, unique: str) -> None:
    name = f"pooled-{unique}"
    assert api.post("/api/v1/accounts", json=account_json(name)).status_code == 201
    page = api.get("/accounts/").get_data(as_text=True)
    assert page.count('id="name"') == 1 and 'id="pool-name"' in page  # one id, one field
    token = form_csrf(api, "/accounts/")
    refused = api.post(
        "/accounts/pools",
        data={"pool-csrf_token": token, "pool-name": f"p-{unique}", "pool-accounts": "ghost"},
    )
    assert refused.status_code == 422
    assert "no account is called ghost" in refused.get_data(as_text=True)
    added = api.post(
        "/accounts/pools",
        data={"pool-csrf_token": token, "pool-name": f"p-{unique}", "pool-accounts": name},
    )
    assert added.status_code == 302
    assert f"p-{unique}" in api.get("/accounts/").get_data(as_text=True)


def test_a_csv_campaign_names_its_account(api: FlaskClient, keyed_app: Flask, unique: str) -> None:
    name = f"csv-{unique}"
    assert api.post("/api/v1/accounts", json=account_json(name)).status_code == 201
    rows = b"email,name\na@example.vn,An\n"
    refused = upload(api, rows, account=f"ghost-{unique}")
    assert refused.status_code == 422
    assert "no sending account or pool" in refused.json["error"]["fields"]["account"]
    accepted = upload(api, rows, account=name)
    assert accepted.status_code in (201, 202), accepted.get_data(as_text=True)
    with keyed_app.app_context():
        campaign = db.session.get(Campaign, accepted.json["id"])
        assert campaign.account_id == stored(keyed_app, name).id
