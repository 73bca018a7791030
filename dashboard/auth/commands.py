"""`flask create-admin`, `flask users ...` and `flask tokens ...`: the same services as the
setup, users and tokens pages, for the person at the console."""

from __future__ import annotations

from typing import NoReturn

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from flask_babel import gettext as _

from dashboard.auth.accounts import (
    AccountError,
    create_user,
    end_sessions,
    find_user,
    list_users,
    set_disabled,
    set_password,
    set_role,
)
from dashboard.auth.roles import ADMIN, ROLES, SENDER
from dashboard.auth.tokens import create_token, revoke_token, tokens_of
from dashboard.extensions import db
from dashboard.models import ApiToken, User


def _fail(error: AccountError) -> NoReturn:
    click.echo(f"error: {error.field}: {error}", err=True)
    raise SystemExit(2)


def _user(email: str) -> User:
    """The user with this address, or the command ends saying there is none."""
    user = find_user(email)
    if user is None:
        _fail(AccountError("email", _("there is no user %(email)s", email=email)))
    return user


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@click.command("create-admin")
@click.option("--email", prompt=True, help="The admin's email address (the sign-in name).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for (hidden) when not given; avoid passing it here, it stays in shell history.",
)
@with_appcontext
def create_admin(email: str, password: str) -> None:
    """Create an admin who can sign in to the dashboard (the first one, or another)."""
    try:
        user = create_user(email, password, role=ADMIN)
    except AccountError as error:
        _fail(error)
    click.echo(_("admin %(email)s created; sign in at /login", email=user.email))


users = AppGroup(
    "users", help="Add, list, disable and enable users; set roles and passwords; end sessions."
)


@users.command("list")
def users_list() -> None:
    for user in list_users():
        state = "disabled" if user.disabled_at else "active"
        last = _when(user.last_login_at)
        click.echo(f"{user.id}\t{user.email}\t{user.role}\t{state}\tlast sign-in {last}")


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default=SENDER, show_default=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for (hidden) when not given; avoid passing it here, it stays in shell history.",
)
def users_add(email: str, role: str, password: str) -> None:
    """Add a user with a role: viewer, sender or admin."""
    try:
        user = create_user(email, password, role=role)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(role)s %(email)s created", role=user.role, email=user.email))


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def users_set_role(email: str, role: str) -> None:
    """Make a user a viewer, a sender or an admin."""
    user = _user(email)
    try:
        set_role(user, role)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(email)s is now a %(role)s", email=user.email, role=role))


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable a user: their sessions and tokens stop working at once."""
    user = _user(email)
    try:
        set_disabled(user, True)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(email)s disabled", email=user.email))


@users.command("enable")
@click.argument("email")
def users_enable(email: str) -> None:
    user = _user(email)
    set_disabled(user, False)
    click.echo(_("%(email)s enabled", email=user.email))


@users.command("set-password")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for (hidden) when not given; avoid passing it here, it stays in shell history.",
)
def users_set_password(email: str, password: str) -> None:
    """Give a user a new password: every session they have ends."""
    user = _user(email)
    try:
        set_password(user, password)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(email)s: password changed, every session ended", email=user.email))


@users.command("sign-out")
@click.argument("email")
def users_sign_out(email: str) -> None:
    """End every session of a user, on every device (their tokens keep working)."""
    user = _user(email)
    end_sessions(user)
    click.echo(_("%(email)s: every session ended", email=user.email))


tokens = AppGroup("tokens", help="Create, list and revoke API tokens.")


@tokens.command("create")
@click.option("--user", "email", required=True, help="Whose token it is (their email).")
@click.option("--name", required=True, help="What will use it, e.g. 'billing service'.")
def tokens_create(email: str, name: str) -> None:
    """Create a token and print it once; only its hash is kept."""
    user = find_user(email)
    if user is None or not user.is_active:
        _fail(AccountError("user", _("there is no active user %(email)s", email=email)))
    try:
        created = create_token(user, name)
    except AccountError as error:
        _fail(error)
    click.echo(
        _(
            "token %(id)s (%(name)s) for %(email)s; shown once, keep it now:",
            id=created.token.id,
            name=name,
            email=user.email,
        )
    )
    click.echo(created.secret)


@tokens.command("list")
def tokens_list() -> None:
    for token in tokens_of(None):
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "live"
        click.echo(
            f"{token.id}\t{token.prefix}…\t{token.name}\t{token.user.email}\t{state}"
            f"\tlast used {_when(token.last_used_at)}"
        )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        _fail(AccountError("token", _("there is no token %(id)s", id=token_id)))
    revoke_token(token)
    click.echo(_("token %(id)s revoked", id=token_id))


def init_commands(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(users)
    app.cli.add_command(tokens)
