"""A forged Host header is refused, and the links the app hands out start with PUBLIC_BASE_URL
whatever Host the request named."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.config import trusted_hosts
from tests.conftest import AppFactory, app_config

PUBLIC = "https://mail.example.org"
EMAIL = {"to": "host-check@example.com", "subject": "s", "text": "t"}


@pytest.fixture
def public_app(stack_settings: dict[str, str], make_app: AppFactory, app: Flask) -> Flask:
    """The dispatcher as deployed at PUBLIC, also answering on localhost (the test client's)."""
    config = {
        **app_config(stack_settings),
        "PUBLIC_BASE_URL": PUBLIC,
        "TRUSTED_HOSTS": trusted_hosts("", PUBLIC),
    }
    served = make_app(config)
    served.test_client_class = app.test_client_class  # signed in as the test admin
    return served


@pytest.mark.parametrize("path", ["/healthz", "/login", "/campaigns/", "/api/v1/stats"])
def test_a_request_with_an_untrusted_host_is_a_400(public_app: Flask, path: str) -> None:
    client = public_app.test_client()
    answer = client.get(path, headers={"Host": "evil.example"})
    assert answer.status_code == 400
    assert "evil.example" not in answer.get_data(as_text=True)


def test_an_api_answer_never_echoes_the_host_header(public_app: Flask) -> None:
    client = public_app.test_client()
    forged = client.post("/api/v1/emails", json=EMAIL, headers={"Host": "evil.example"})
    assert forged.status_code == 400
    # A trusted name the app is also reached by: the links still name the public address.
    answer = client.post("/api/v1/emails", json=EMAIL, headers={"Host": "localhost:8080"})
    assert answer.status_code == 202, answer.json
    status_url = f"{PUBLIC}/api/v1/emails/{answer.json['id']}"
    assert answer.headers["Location"] == status_url
    assert answer.json["status_url"] == status_url
    assert answer.json["campaign_url"] == f"{PUBLIC}/api/v1/campaigns/{answer.json['id']}"
    stats = client.get("/api/v1/stats?range=30d", headers={"Host": "localhost:8080"}).json
    assert all(f["history_url"].startswith(f"{PUBLIC}/history/") for f in stats["failures"])


def test_by_default_the_local_names_and_the_public_host_are_trusted(
    client: FlaskClient,
) -> None:
    assert trusted_hosts("", "http://127.0.0.1:5000") == ["localhost", "127.0.0.1"]
    assert trusted_hosts("", PUBLIC)[-1] == "mail.example.org"
    assert trusted_hosts(" a.example, .b.example ", PUBLIC) == ["a.example", ".b.example"]
    assert trusted_hosts("*", PUBLIC) is None
    for host in ("127.0.0.1:5000", "localhost:5000", "localhost"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
