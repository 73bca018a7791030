"""Roles: every route and API endpoint declares the role it needs, and each answers every role
(and a stranger) as it declares. A route added without a declaration fails here, and the gate
refuses it to everyone."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, IntegerConverter

from dashboard.auth import ADMIN, SENDER, VIEWER, requires
from dashboard.auth.access import PUBLIC_ENDPOINTS
from dashboard.auth.accounts import find_user
from dashboard.auth.roles import ROLES, required_role, role_allows
from dashboard.models import MAX_DATABASE_ID, Campaign
from dashboard.ops.local_stack import process_env
from tests.auth_helpers import PASSWORD, Person, form_csrf, make_user, sign_in
from tests.conftest import ROOT, count_rows

EMAIL = {"to": "role-check@example.com", "subject": "s", "text": "t"}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    url: str


def every_route(app: Flask) -> list[Route]:
    """Every rule with every method; ids that match no row, so no request changes anything."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            values: dict[str, object] = {}
            for name in rule.arguments:
                converter = rule._converters[name]
                if isinstance(converter, IntegerConverter):
                    values[name] = MAX_DATABASE_ID
                elif isinstance(converter, AnyConverter):
                    values[name] = sorted(converter.items)[0]
                else:
                    values[name] = "x.css" if rule.endpoint == "static" else "no-such-thing"
            url = url_for(rule.endpoint, **values)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append(Route(rule.endpoint, method, url))
    return routes


def is_public(app: Flask, endpoint: str) -> bool:
    return endpoint in PUBLIC_ENDPOINTS or getattr(app.view_functions[endpoint], "is_public", False)


def takes_tokens(app: Flask, route: Route) -> bool:
    view = app.view_functions[route.endpoint]
    return route.url.startswith("/api/") or getattr(view, "accepts_api_token", False)


@dataclass(frozen=True)
class Member:
    role: str
    person: Person
    browser: FlaskClient  # signed in through the form
    program: FlaskClient  # the person's API token, no session


@pytest.fixture
def members(app: Flask, unique: str) -> dict[str, Member]:
    found = {}
    for role in ROLES:
        person = make_user(app, f"{role}-{unique}@example.com", role=role)
        browser = FlaskClient(app, app.response_class)
        assert sign_in(browser, person.email, PASSWORD).status_code == 302
        program = FlaskClient(app, app.response_class, use_cookies=False)
        program.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {person.token}"
        found[role] = Member(role, person, browser, program)
    return found


def test_every_route_declares_a_role_or_is_public(app: Flask) -> None:
    undeclared = [
        (r.endpoint, r.method)
        for r in every_route(app)
        if not is_public(app, r.endpoint)
        and required_role(app.view_functions[r.endpoint], r.method) is None
    ]
    assert undeclared == []


def test_every_route_answers_each_role_as_it_declares(
    app: Flask, members: dict[str, Member], anonymous_client: FlaskClient
) -> None:
    checked = 0
    for route in every_route(app):
        if is_public(app, route.endpoint):
            continue
        needed = required_role(app.view_functions[route.endpoint], route.method)
        for role, member in members.items():
            client = member.program if takes_tokens(app, route) else member.browser
            answer = client.open(route.url, method=route.method, buffered=True)
            where = f"{route.method} {route.url} as {role} (needs {needed})"
            if role_allows(role, needed):
                assert answer.status_code not in (401, 403), where
                assert answer.status_code < 500, where
                assert not answer.headers.get("Location", "").startswith("/login"), where
            else:
                assert answer.status_code == 403, where
            checked += 1
        stranger = anonymous_client.open(route.url, method=route.method, buffered=True)
        if takes_tokens(app, route):
            assert stranger.status_code == 401, route
        else:
            assert stranger.status_code == 302, route
            assert stranger.headers["Location"].startswith("/login"), route
    assert checked >= 3 * 40  # every route, not a handful


def test_a_route_without_a_declaration_is_refused_even_to_an_admin(
    app: Flask, client: FlaskClient
) -> None:
    @app.get("/probe-undeclared")
    def probe_undeclared():
        return "open"

    @app.get("/probe-declared")
    @requires(VIEWER)
    def probe_declared():
        return "open"

    assert client.get("/probe-undeclared").status_code == 403
    assert client.get("/probe-declared").get_data(as_text=True) == "open"


def test_a_viewers_token_and_session_cannot_send(app: Flask, members: dict[str, Member]) -> None:
    viewer, sender = members[VIEWER], members[SENDER]
    before = count_rows(app, Campaign)
    refused = viewer.program.post("/api/v1/emails", json=EMAIL)
    assert refused.status_code == 403 and refused.is_json
    assert "sender" in refused.json["error"]["message"]
    page = viewer.browser.post(
        "/", data={"csrf_token": form_csrf(viewer.browser, "/campaigns/"), **EMAIL}
    )
    assert page.status_code == 403
    assert count_rows(app, Campaign) == before
    assert sender.program.post("/api/v1/emails", json=EMAIL).status_code == 202
    assert count_rows(app, Campaign) == before + 1


def test_a_viewer_lands_on_the_campaigns_and_sees_no_compose_link(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"lands-{unique}@example.com", role=VIEWER)
    assert sign_in(anonymous_client, person.email, PASSWORD).headers["Location"] == "/campaigns/"
    page = anonymous_client.get("/campaigns/").get_data(as_text=True)
    assert 'href="/users"' not in page and 'href="/" ' not in page  # no Compose link


def test_an_admin_changes_a_role_on_the_users_page(
    app: Flask, client: FlaskClient, unique: str
) -> None:
    person = make_user(app, f"promoted-{unique}@example.com", role=VIEWER)
    page = client.get("/users").get_data(as_text=True)
    assert f'id="role-{person.id}"' in page
    answer = client.post(
        f"/users/{person.id}/role",
        data={"csrf_token": form_csrf(client, "/users"), "role": SENDER},
    )
    assert answer.status_code == 302
    with app.app_context():
        assert find_user(person.email).role == SENDER
    bad = client.post(
        f"/users/{person.id}/role",
        data={"csrf_token": form_csrf(client, "/users"), "role": "owner"},
    )
    assert bad.status_code == 409
    assert "the role must be one of" in bad.get_data(as_text=True)


def test_the_cli_adds_users_with_a_role_and_changes_it(
    app: Flask, stack_settings: dict[str, str], unique: str
) -> None:
    email = f"cli-role-{unique}@example.com"

    def flask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=process_env(stack_settings),
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = flask("users", "add", email, "--role", VIEWER, "--password", PASSWORD)
    assert added.returncode == 0, added.stderr
    changed = flask("users", "set-role", email, ADMIN)
    assert changed.returncode == 0, changed.stderr
    listed = flask("users", "list")
    assert f"{email}\tadmin\tactive" in listed.stdout
    with app.app_context():
        assert find_user(email).role == ADMIN
