"""A web process remembers a live API token for API_TOKEN_CACHE_SECONDS instead of reading it on
every request: a token revoked (or a user disabled) by another process, here the CLI, stops
working once that many seconds have passed, and at once with 0. Revoking in the same process
takes effect at once (test_access.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import ApiToken, AuditEvent, Campaign
from dashboard.ops.local_stack import process_env
from tests.auth_helpers import Person, make_user
from tests.conftest import ROOT, AppFactory, app_config, wait_for_final

MEMORY_SECONDS = 1.5


def _cli(settings: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=process_env(settings),
        check=True,
        capture_output=True,
        timeout=120,
    )


def _status(client: FlaskClient, person: Person) -> int:
    # 404 once the token is accepted (there is no email 999), 401 when it is refused.
    return client.get(
        "/api/v1/emails/999", headers={"Authorization": f"Bearer {person.token}"}
    ).status_code


def _token_id(app: Flask, person: Person) -> int:
    with app.app_context():
        return db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == person.id)).one()


def _app(make_app: AppFactory, settings: dict[str, str], seconds: float) -> Flask:
    return make_app({**app_config(settings), "API_TOKEN_CACHE_SECONDS": seconds})


def test_a_token_revoked_elsewhere_stops_working_within_the_memory_time(
    make_app: AppFactory, stack_settings: dict[str, str], migrated_database: str, unique: str
) -> None:
    app = _app(make_app, stack_settings, MEMORY_SECONDS)
    client = app.test_client()
    revoked = make_user(app, f"revoked-{unique}@example.com")
    disabled = make_user(app, f"disabled-{unique}@example.com")
    assert [_status(client, revoked), _status(client, disabled)] == [404, 404]

    _cli(stack_settings, "tokens", "revoke", str(_token_id(app, revoked)))
    _cli(stack_settings, "users", "disable", disabled.email)
    time.sleep(MEMORY_SECONDS)  # what this process remembers has run out
    assert [_status(client, revoked), _status(client, disabled)] == [401, 401]


def test_without_memory_a_token_revoked_elsewhere_is_refused_at_once(
    make_app: AppFactory, stack_settings: dict[str, str], migrated_database: str, unique: str
) -> None:
    app = _app(make_app, stack_settings, 0)
    client = app.test_client()
    person = make_user(app, f"no-memory-{unique}@example.com")
    assert _status(client, person) == 404
    _cli(stack_settings, "tokens", "revoke", str(_token_id(app, person)))
    assert _status(client, person) == 401


def test_a_remembered_token_acts_as_its_user_and_role(
    make_app: AppFactory,
    stack_settings: dict[str, str],
    migrated_database: str,
    worker: Path,
    unique: str,
) -> None:
    """Served from memory, the token still sends as its own user, and a viewer's still cannot.
    The emails are sent before the test ends (none left in flight for a later test's server)."""
    app = _app(make_app, stack_settings, 60)
    client = app.test_client()
    sender = make_user(app, f"sender-{unique}@example.com")
    viewer = make_user(app, f"viewer-{unique}@example.com", role="viewer")
    email = {"to": f"to-{unique}@example.com", "subject": "Xin chào", "text": "Chào bạn."}
    accepted = []
    for _ in range(3):  # the first read fills the memory, the others come from it
        sent = client.post(
            "/api/v1/emails", json=email, headers={"Authorization": f"Bearer {sender.token}"}
        )
        assert sent.status_code == 202, sent.get_data(as_text=True)
        accepted.append(sent.get_json()["id"])
        refused = client.post(
            "/api/v1/emails", json=email, headers={"Authorization": f"Bearer {viewer.token}"}
        )
        assert refused.status_code == 403
    with app.app_context():
        owners = db.session.scalars(
            select(Campaign.owner_id).where(Campaign.id == sent.get_json()["id"])
        ).all()
        actors = db.session.scalars(
            select(AuditEvent.actor).where(AuditEvent.target == f"campaign {sent.get_json()['id']}")
        ).all()
    assert owners == [sender.id]
    assert actors == [sender.email]
    for campaign_id in accepted:
        assert [m.status for m in wait_for_final(app, campaign_id)] == ["sent"]
