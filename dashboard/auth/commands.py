"""`flask create-admin`, `flask users ...` and `flask tokens ...`: the same services as the
setup, users and tokens pages, for the person at the console."""

from __future__ import annotations

from typing import NoReturn

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
from dashboard.auth.roles import ADMIN, ROLES, SENDER, role_label
from dashboard.auth.tokens import create_token, revoke_token, tokens_of
from dashboard.extensions import db
from dashboard.models import ApiToken, User
from dashboard.sending.cli_language import option
from dashboard.sending.stored_texts import translated


def _fail(error: AccountError) -> NoReturn:
    for field, problem in error.fields.items():
        click.echo(
            _("error: %(field)s: %(problem)s", field=field, problem=translated(problem)), err=True
        )
    raise SystemExit(2)


def _user(email: str) -> User:
    """The user with this address, or the command ends saying there is none."""
    user = find_user(email)
    if user is None:
        _fail(AccountError("email", _("there is no user %(email)s", email=email)))
    return user


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@click.command(
    "create-admin",
    help=_l("Create an admin who can sign in to the dashboard (the first one, or another)."),
)
@option("--email", prompt=_l("Email"), help=_l("The admin's email address (the sign-in name)."))
@option(
    "--password",
    prompt=_l("Password"),
    hide_input=True,
    confirmation_prompt=True,
    help=_l(
        "Prompted for (hidden) when not given; avoid passing it here, it stays in shell history."
    ),
)
@with_appcontext
def create_admin(email: str, password: str) -> None:
    try:
        user = create_user(email, password, role=ADMIN)
    except AccountError as error:
        _fail(error)
    click.echo(_("admin %(email)s created; sign in at /login", email=user.email))


users = AppGroup(
    "users",
    help=_l("Add, list, disable and enable users; set roles and passwords; end sessions."),
)


@users.command("list", help=_l("Each user: id, address, role, state, last sign-in."))
def users_list() -> None:
    for user in list_users():
        state = _("disabled") if user.disabled_at else _("active")
        last = _("last sign-in %(when)s", when=_when(user.last_login_at))
        click.echo(f"{user.id}\t{user.email}\t{role_label(user.role)}\t{state}\t{last}")


@users.command("add", help=_l("Add a user with a role: viewer, sender or admin."))
@click.argument("email")
@option(
    "--role",
    type=click.Choice(ROLES),
    default=SENDER,
    show_default=True,
    help=_l("What the user may do."),
)
@option(
    "--password",
    prompt=_l("Password"),
    hide_input=True,
    confirmation_prompt=True,
    help=_l(
        "Prompted for (hidden) when not given; avoid passing it here, it stays in shell history."
    ),
)
def users_add(email: str, role: str, password: str) -> None:
    try:
        user = create_user(email, password, role=role)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(role)s %(email)s created", role=role_label(user.role), email=user.email))


@users.command("set-role", help=_l("Make a user a viewer, a sender or an admin."))
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def users_set_role(email: str, role: str) -> None:
    user = _user(email)
    try:
        set_role(user, role)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(email)s is now a %(role)s", email=user.email, role=role_label(role)))


@users.command(
    "disable", help=_l("Disable a user: their sessions and tokens stop working at once.")
)
@click.argument("email")
def users_disable(email: str) -> None:
    user = _user(email)
    try:
        set_disabled(user, True)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(email)s disabled", email=user.email))


@users.command("enable", help=_l("Enable a disabled user again."))
@click.argument("email")
def users_enable(email: str) -> None:
    user = _user(email)
    set_disabled(user, False)
    click.echo(_("%(email)s enabled", email=user.email))


@users.command("set-password", help=_l("Give a user a new password: every session they have ends."))
@click.argument("email")
@option(
    "--password",
    prompt=_l("Password"),
    hide_input=True,
    confirmation_prompt=True,
    help=_l(
        "Prompted for (hidden) when not given; avoid passing it here, it stays in shell history."
    ),
)
def users_set_password(email: str, password: str) -> None:
    user = _user(email)
    try:
        set_password(user, password)
    except AccountError as error:
        _fail(error)
    click.echo(_("%(email)s: password changed, every session ended", email=user.email))


@users.command(
    "sign-out",
    help=_l("End every session of a user, on every device (their tokens keep working)."),
)
@click.argument("email")
def users_sign_out(email: str) -> None:
    user = _user(email)
    end_sessions(user)
    click.echo(_("%(email)s: every session ended", email=user.email))


tokens = AppGroup("tokens", help=_l("Create, list and revoke API tokens."))


@tokens.command("create", help=_l("Create a token and print it once; only its hash is kept."))
@option("--user", "email", required=True, help=_l("Whose token it is (their email)."))
@option("--name", required=True, help=_l("What will use it, e.g. 'billing service'."))
def tokens_create(email: str, name: str) -> None:
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


@tokens.command("list", help=_l("Each token: id, prefix, name, user, state, last use."))
def tokens_list() -> None:
    for token in tokens_of(None):
        revoked = token.revoked_at
        state = _("revoked %(when)s", when=_when(revoked)) if revoked else _("live")
        used = _("last used %(when)s", when=_when(token.last_used_at))
        click.echo(
            f"{token.id}\t{token.prefix}…\t{token.name}\t{token.user.email}\t{state}\t{used}"
        )


@tokens.command("revoke", help=_l("Revoke a token by its id: it stops working at once."))
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
