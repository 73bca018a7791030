"""The sign-in limit counts the account, not the text typed, and cannot be outrun by
concurrency: checking the budget and spending a try are one atomic step in Redis."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from dashboard.auth.throttle import KEY_PREFIX
from tests.auth_helpers import PASSWORD, make_user, sign_in
from tests.conftest import AppFactory, app_config, serving

CONCURRENT_ATTEMPTS = 40


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def spellings(local: str) -> list[str]:
    """Ways to type local@example.com that sign-in reads as that one account."""
    return [
        f"{local}@example\u3002com",  # ideographic full stop
        f"{local.upper()}@EXAMPLE\uff0eCOM",  # fullwidth full stop, capitals
        f"{local}@example\uff61com",  # halfwidth ideographic full stop
        f"{local}@{fullwidth('example')}.com",  # fullwidth letters in the domain
        f"{fullwidth(local)}@example.com",  # fullwidth letters in the local part
        f"  {local}@Example.Com ",
    ]


def test_every_spelling_of_an_address_spends_the_same_budget(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    local = f"spell{unique}"
    person = make_user(app, f"{local}@example.com")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    typed = spellings(local)
    assert len(typed) >= limit
    for attempt, text in enumerate(typed[:limit]):  # a new IP each time: only the address counts
        response = sign_in(anonymous_client, text, "a wrong guess", ip=f"192.0.2.{attempt + 10}")
        assert response.status_code == 401, text
    # The budget is spent: neither another spelling nor the right password gets a check.
    for text in (typed[limit % len(typed)], person.email):
        blocked = sign_in(anonymous_client, text, PASSWORD, ip="192.0.2.99")
        assert blocked.status_code == 429, text
    assert anonymous_client.get("/").status_code == 302


def test_the_right_password_in_another_spelling_signs_in(
    app: Flask, anonymous_client: FlaskClient, unique: str
) -> None:
    local = f"other{unique}"
    make_user(app, f"{local}@example.com")
    response = sign_in(anonymous_client, spellings(local)[0], PASSWORD, ip="192.0.2.120")
    assert response.status_code == 302
    assert anonymous_client.get("/campaigns/").status_code == 200


@pytest.fixture
def live_login_url(
    stack_settings: dict[str, str], make_app: AppFactory, redis_client: redis.Redis
) -> Iterator[tuple[Flask, str]]:
    # A per-IP limit above the attempts, so that only the per-address limit can bite.
    app = make_app({**app_config(stack_settings), "LOGIN_MAX_FAILURES_PER_IP": 1000})
    with serving(app) as url:
        yield app, url
    redis_client.delete(f"{KEY_PREFIX}:ip:127.0.0.1")  # the other tests' sign-ins from here


def test_concurrent_wrong_sign_ins_get_no_more_password_checks_than_the_limit(
    live_login_url: tuple[Flask, str], unique: str
) -> None:
    app, url = live_login_url
    person = make_user(app, f"race{unique}@example.com")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    start = threading.Barrier(CONCURRENT_ATTEMPTS, timeout=60)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            with requests.Session() as browser:
                page = browser.get(f"{url}/login", timeout=60).text
                csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
                start.wait()  # all at once: the check of one overlaps the count of another
                answer = browser.post(
                    f"{url}/login",
                    data={"csrf_token": csrf.group(1), "email": person.email, "password": "no"},
                    allow_redirects=False,
                    timeout=120,
                )
                statuses.append(answer.status_code)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(CONCURRENT_ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors
    answers = Counter(statuses)
    # 401 is a password checked and found wrong; 429 is refused before any check.
    assert answers == {401: limit, 429: CONCURRENT_ATTEMPTS - limit}, answers
