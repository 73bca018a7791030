"""The users page (admins add and disable people) and the API tokens page."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth.accounts import (
    AccountError,
    create_user,
    end_sessions,
    list_users,
    set_disabled,
    set_role,
)
from dashboard.auth.forms import ActionForm, NewTokenForm, NewUserForm, RoleForm
from dashboard.auth.roles import ADMIN, VIEWER, requires
from dashboard.auth.token_handoff import hand_over, take_over
from dashboard.auth.tokens import create_token, revoke_token, tokens_of
from dashboard.extensions import db
from dashboard.models import ApiToken, User

people = Blueprint("people", __name__)


def _users_page(form: NewUserForm, status: int = 200, error: str | None = None):
    return (
        render_template(
            "auth/users.html",
            form=form,
            users=list_users(),
            action=ActionForm(),
            role_form=RoleForm,
            error=error,
        ),
        status,
    )


@people.get("/users")
@requires(ADMIN)
def users():
    return _users_page(NewUserForm(formdata=None))


@people.post("/users")
@requires(ADMIN)
def add_user():
    form = NewUserForm()
    try:
        user = create_user(
            form.email.data or "", form.password.data or "", role=form.role.data or ""
        )
    except AccountError as error:
        for field, problem in error.fields.items():
            getattr(form, field).errors = [problem]
        return _users_page(form, 422)
    flash(_("%(email)s was added as %(role)s.", email=user.email, role=user.role), "ok")
    return redirect(url_for("people.users"))


@people.post("/users/<int:user_id>/<any(disable, enable, 'sign-out'):action>")
@requires(ADMIN)
def change_user(user_id: int, action: str):
    ActionForm()  # CSRF was checked by the gate; the form documents that it is expected
    user = db.session.get(User, user_id) or abort(404, _("There is no such user."))
    try:
        if action == "sign-out":
            end_sessions(user)  # an admin ending their own sessions signs themselves out too
            done = _("%(email)s is signed out everywhere.", email=user.email)
        elif action == "disable":
            set_disabled(user, True, by=current_user)
            done = _("%(email)s is disabled and signed out.", email=user.email)
        else:
            set_disabled(user, False, by=current_user)
            done = _("%(email)s can sign in again.", email=user.email)
    except AccountError as error:
        return _users_page(NewUserForm(formdata=None), 409, error=str(error))
    flash(done, "ok")
    return redirect(url_for("people.users"))


@people.post("/users/<int:user_id>/role")
@requires(ADMIN)
def change_role(user_id: int):
    form = RoleForm()
    user = db.session.get(User, user_id) or abort(404, _("There is no such user."))
    try:
        set_role(user, form.role.data or "")
    except AccountError as error:
        return _users_page(NewUserForm(formdata=None), 409, error=str(error))
    flash(_("%(email)s is now %(role)s.", email=user.email, role=user.role), "ok")
    return redirect(url_for("people.users"))


def _visible_tokens() -> list[ApiToken]:
    return tokens_of(None if current_user.is_admin else current_user)


def _tokens_page(form: NewTokenForm, status: int = 200, new_secret: str | None = None):
    headers = {"Cache-Control": "no-store"}
    page = render_template(
        "auth/tokens.html",
        form=form,
        tokens=_visible_tokens(),
        action=ActionForm(),
        new_secret=new_secret,
    )
    return page, status, headers


@people.get("/tokens")
@requires(VIEWER)  # a viewer's tokens act as a viewer: they read, they cannot send
def tokens():
    return _tokens_page(NewTokenForm(formdata=None), new_secret=take_over())


@people.post("/tokens")
@requires(VIEWER)
def add_token():
    form = NewTokenForm()
    try:
        created = create_token(current_user, form.name.data or "")
    except AccountError as error:
        form.name.errors = [str(error)]
        return _tokens_page(form, 422)
    # Redirected, so a reload cannot make a second token; the page shows the secret once.
    hand_over(created.secret)
    return redirect(url_for("people.tokens"), 303)


@people.post("/tokens/<int:token_id>/revoke")
@requires(VIEWER)
def revoke(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or not (current_user.is_admin or token.user_id == current_user.id):
        abort(404, _("There is no such token."))
    revoke_token(token)
    flash(_("The token %(name)s is revoked: programs using it are refused.", name=token.name), "ok")
    return redirect(url_for("people.tokens"))
