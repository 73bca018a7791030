"""Forms of the sign-in, setup, users and tokens pages (each carries CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField


class LoginForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")
    next = HiddenField()


class SetupForm(FlaskForm):
    token = HiddenField()
    email = EmailField("Your email")
    password = PasswordField("Password", description="At least 10 characters.")
    confirm = PasswordField("Password again")


class PasswordForm(FlaskForm):
    current = PasswordField("Current password")
    new = PasswordField("New password", description="At least 10 characters.")
    confirm = PasswordField("New password again")


class NewUserForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password", description="At least 10 characters.")
    is_admin = BooleanField("Admin (can add and disable users)")


class NewTokenForm(FlaskForm):
    name = StringField("Name", description="What will use it, e.g. “billing service”.")


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""
