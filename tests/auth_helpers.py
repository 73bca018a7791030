"""Small steps the access tests share: read a form's CSRF token, sign in, make a user."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dashboard.auth.accounts import create_user
from dashboard.auth.tokens import create_token

PASSWORD = "a long enough password"


def form_csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'type="hidden" name="csrf_token" value="([^"]+)"', page
    )
    assert match, f"{path} carries no CSRF token"
    return match.group(1)


def sign_in(
    client: FlaskClient, email: str, password: str, *, ip: str = "127.0.0.1", next: str = ""
) -> TestResponse:
    return client.post(
        "/login",
        data={
            "csrf_token": form_csrf(client, "/login"),
            "email": email,
            "password": password,
            "next": next,
        },
        environ_base={"REMOTE_ADDR": ip},
    )


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    token: str


def make_user(app: Flask, email: str, *, role: str = "sender") -> Person:
    with app.app_context():
        user = create_user(email, PASSWORD, role=role)
        return Person(user.id, user.email, create_token(user, "test").secret)


def errors_by_field(answer: TestResponse) -> dict[str, str]:
    """A form page's problems by the name of the field each is shown under."""
    found = {}
    for block in answer.get_data(as_text=True).split('<div class="field')[1:]:
        errors = re.findall(r'<p class="error" role="alert">(.*?)</p>', block, re.DOTALL)
        name = re.search(r'name="(\w+)"', block)
        if errors and name:
            found[name.group(1)] = html.unescape(" ".join(errors))
    return found
