"""Forms of the sign-in, setup, users and tokens pages (each carries CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from dashboard.auth.roles import ROLE_NAMES, SENDER


class LoginForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")
    next = HiddenField()


class SetupForm(FlaskForm):
    token = HiddenField()
    email = EmailField("Your email")
    password = PasswordField("Password", description="At least 10 characters.")
    confirm = PasswordField("Password again")


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(role, label) for role, label in ROLE_NAMES.items()]


class PasswordForm(FlaskForm):
    current = PasswordField("Current password")
    new = PasswordField("New password", description="At least 10 characters.")
    confirm = PasswordField("New password again")


class NewUserForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password", description="At least 10 characters.")
    role = SelectField("Role", choices=_role_choices(), default=SENDER)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=_role_choices())


class NewTokenForm(FlaskForm):
    name = StringField("Name", description="What will use it, e.g. “billing service”.")


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""
