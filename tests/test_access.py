"""Only the right people send mail: every page and API endpoint is closed to strangers, tokens
open the API only, and CSRF guards every state-changing request made with a session."""

from __future__ import annotations

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, IntegerConverter

from dashboard.auth import VIEWER, accepts_api_token, public, requires
from dashboard.auth.accounts import find_user, set_disabled
from dashboard.extensions import db
from dashboard.models import Campaign, Message
from tests.auth_helpers import PASSWORD, form_csrf, make_user, sign_in
from tests.conftest import AdminIdentity, count_rows

# Reachable without signing in. Adding an endpoint here is a security decision: say why.
EXPECTED_PUBLIC = {
    "static",  # CSS and the vendored htmx
    "auth.login",
    "auth.setup",  # works only while no user exists, and only with the console's link
    "health.healthz",  # load balancers and orchestrators carry no session
    "health.readyz",
    "metrics.scrape",  # Prometheus; counts only, and must answer while the database is down
    "unsubscribe.one_click",  # a recipient's signed link (RFC 8058 one-click POST)
    "bounce_notifications.ses",  # Amazon SNS posts; its signature is checked, not a session
    "settings.switch_language",  # the header's language switch, on the sign-in page too
}
EMAIL = {"to": "someone@example.com", "subject": "s", "text": "t"}


def every_route(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route, with placeholder arguments."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            values: dict[str, object] = {}
            for name in rule.arguments:
                converter = rule._converters[name]
                if isinstance(converter, IntegerConverter):
                    values[name] = 1
                elif isinstance(converter, AnyConverter):
                    values[name] = sorted(converter.items)[0]
                else:
                    values[name] = "x.css" if rule.endpoint == "static" else "x"
            url = url_for(rule.endpoint, **values)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((rule.endpoint, method, url))
    return routes


def is_public(app: Flask, endpoint: str) -> bool:
    from dashboard.auth.access import PUBLIC_ENDPOINTS

    view = app.view_functions[endpoint]
    return endpoint in PUBLIC_ENDPOINTS or getattr(view, "is_public", False)


def test_only_the_expected_endpoints_are_public(app: Flask) -> None:
    public_endpoints = {e for e, _, _ in every_route(app) if is_public(app, e)}
    assert public_endpoints == EXPECTED_PUBLIC


def test_a_stranger_reaches_nothing_but_the_login_page(
    app: Flask, anonymous_client: FlaskClient
) -> None:
    before = count_rows(app, Campaign), count_rows(app, Message)
    checked = 0
    for endpoint, method, url in every_route(app):
        if is_public(app, endpoint):
            continue
        response = anonymous_client.open(url, method=method, json={} if method != "GET" else None)
        checked += 1
        where = f"{method} {url}"
        if url.startswith("/api/"):
            assert response.status_code == 401, where
            assert response.is_json and response.json["error"]["code"] == "unauthorized", where
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), where
        else:
            assert response.status_code == 302, where
            assert response.headers["Location"].startswith("/login"), where
    assert checked >= 10
    assert (count_rows(app, Campaign), count_rows(app, Message)) == before


def test_the_login_page_brings_the_person_back_where_they_were(
    anonymous_client: FlaskClient,
) -> None:
    response = anonymous_client.get("/campaigns/?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/campaigns/?page%3D2"


def test_htmx_polling_after_the_session_ended_sends_the_window_to_login(
    anonymous_client: FlaskClient,
) -> None:
    response = anonymous_client.get("/campaigns/1", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_public_decorator_opens_one_view_to_strangers(app: Flask) -> None:
    @app.get("/probe-public")
    @public
    def probe_public():
        return "open"

    @app.get("/probe-closed")
    def probe_closed():
        return "closed"

    stranger = FlaskClient(app, app.response_class)
    assert stranger.get("/probe-public").get_data(as_text=True) == "open"
    assert stranger.get("/probe-closed").status_code == 302


def test_a_view_outside_the_api_can_accept_tokens(
    app: Flask, admin_identity: AdminIdentity
) -> None:
    @app.get("/probe-metrics")
    @accepts_api_token
    @requires(VIEWER)
    def probe_metrics():
        return "metrics"

    stranger = FlaskClient(app, app.response_class)
    refused = stranger.get("/probe-metrics")
    assert refused.status_code == 401 and refused.is_json
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    bearer = {"Authorization": f"Bearer {admin_identity.token}"}
    assert stranger.get("/probe-metrics", headers=bearer).get_data(as_text=True) == "metrics"


def test_api_with_a_token_and_no_session_sends_mail_without_csrf(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"api-{unique}@example.com")
    headers = {"Authorization": f"Bearer {person.token}"}
    response = anonymous_client.post(
        "/api/v1/emails", json={**EMAIL, "to": f"to-{unique}@example.com"}, headers=headers
    )
    assert response.status_code == 202, response.json
    status = anonymous_client.get(response.json["status_url"], headers=headers)
    assert status.status_code == 200
    assert "Set-Cookie" not in status.headers  # a token request starts no session


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        ("Bearer edt_not-a-real-token", "invalid_token"),
        ("Bearer ", "invalid_request"),
        ("Basic dXNlcjpwYXNz", "invalid_request"),
        ("Bearer " + "A" * 10_000, "invalid_token"),
        ("Bearer edt_ä\x00", "invalid_token"),
        ("bearer   edt_x  ", "invalid_token"),
    ],
)
def test_api_refuses_bad_tokens_with_401_json(
    app: Flask, anonymous_client: FlaskClient, authorization: str, error: str
) -> None:
    before = count_rows(app, Campaign)
    response = anonymous_client.post(
        "/api/v1/emails", json=EMAIL, headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert f'error="{error}"' in response.headers["WWW-Authenticate"]
    assert count_rows(app, Campaign) == before


def test_a_bad_token_is_refused_even_beside_a_good_session(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/emails/1", headers={"Authorization": "Bearer edt_wrong"})
    assert response.status_code == 401


def test_revoked_tokens_and_disabled_users_tokens_stop_working(
    app: Flask, anonymous_client: FlaskClient, client: FlaskClient, unique: str
) -> None:
    alice = make_user(app, f"alice-{unique}@example.com")
    bob = make_user(app, f"bob-{unique}@example.com")
    for person in (alice, bob):
        ok = anonymous_client.get(
            "/api/v1/emails/999", headers={"Authorization": f"Bearer {person.token}"}
        )
        assert ok.status_code == 404  # authenticated; the job just does not exist

    tokens_page = client.get("/tokens").get_data(as_text=True)
    assert alice.token not in tokens_page  # listed by its prefix only
    assert alice.token[:10] in tokens_page
    with app.app_context():
        from dashboard.models import ApiToken

        token_id = db.session.scalars(
            db.select(ApiToken.id).where(ApiToken.user_id == alice.id)
        ).one()
    revoked = client.post(
        f"/tokens/{token_id}/revoke", data={"csrf_token": form_csrf(client, "/tokens")}
    )
    assert revoked.status_code == 302
    with app.app_context():
        set_disabled(find_user(bob.email), True)

    for person in (alice, bob):
        refused = anonymous_client.get(
            "/api/v1/emails/999", headers={"Authorization": f"Bearer {person.token}"}
        )
        assert refused.status_code == 401


def test_a_session_may_call_the_api_but_state_changes_need_csrf(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"browser-{unique}@example.com")
    assert sign_in(anonymous_client, person.email, PASSWORD).status_code == 302
    assert anonymous_client.get("/api/v1/openapi.json").status_code == 200

    before = count_rows(app, Campaign)
    forged = anonymous_client.post("/api/v1/emails", json=EMAIL)
    assert forged.status_code == 400
    assert "did not come from this dashboard" in forged.json["error"]["message"]
    assert count_rows(app, Campaign) == before

    token = form_csrf(anonymous_client, "/")
    sent = anonymous_client.post(
        "/api/v1/emails",
        json={**EMAIL, "to": f"to-{unique}@example.com"},
        headers={"X-CSRFToken": token},
    )
    assert sent.status_code == 202, sent.json


def test_a_token_request_neither_reads_nor_writes_the_session_beside_it(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    """With a bearer token the API acts as the token's user, without CSRF, even beside
    another person's signed-in session; that session is left as it was."""
    browser = make_user(app, f"browser-{unique}@example.com")
    program = make_user(app, f"program-{unique}@example.com")
    assert sign_in(anonymous_client, browser.email, PASSWORD).status_code == 302
    sent = anonymous_client.post(
        "/api/v1/emails",
        json={**EMAIL, "to": f"to-{unique}@example.com"},
        headers={"Authorization": f"Bearer {program.token}"},
    )
    assert sent.status_code == 202, sent.json
    assert "Set-Cookie" not in sent.headers
    with app.app_context():
        campaign = db.session.get(Campaign, sent.json["id"])
        assert campaign is not None and campaign.owner_id == program.id
    assert anonymous_client.get("/campaigns/").status_code == 200  # still signed in


def test_pages_ignore_bearer_tokens(
    anonymous_client: FlaskClient, admin_identity: AdminIdentity
) -> None:
    """A token opens the API only; a page needs a signed-in session (and its CSRF)."""
    headers = {"Authorization": f"Bearer {admin_identity.token}"}
    for response in (
        anonymous_client.get("/campaigns/", headers=headers),
        anonymous_client.post("/", data=EMAIL, headers=headers),
    ):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_every_state_changing_form_needs_csrf(app: Flask, client: FlaskClient) -> None:
    """With the session signed in, each POST route refuses a request without a CSRF token."""
    exempt = app.extensions["csrf"]._exempt_views  # e.g. a one-click unsubscribe (RFC 8058)
    checked: set[str] = set()
    for endpoint, method, url in every_route(app):
        view = app.view_functions[endpoint]
        if method != "POST" or url.startswith("/api/") or endpoint == "static":
            continue
        if f"{view.__module__}.{view.__name__}" in exempt:
            continue
        response = client.post(url, data={"to": "a@example.com", "email": "x", "name": "n"})
        assert response.status_code == 400, f"{method} {url} took a request without CSRF"
        assert "Reload the page" in response.get_data(as_text=True)
        checked.add(endpoint)
    assert {"compose.compose_page", "auth.login", "auth.logout", "people.add_token"} <= checked
