"""Forms of the sign-in, setup, users and tokens pages (each carries CSRF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from dashboard.auth.roles import ROLE_NAMES, SENDER


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"))
    password = PasswordField(_l("Password"))
    next = HiddenField()


class SetupForm(FlaskForm):
    token = HiddenField()
    email = EmailField(_l("Your email"))
    password = PasswordField(_l("Password"), description=_l("At least 10 characters."))
    confirm = PasswordField(_l("Password again"))


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(role, label) for role, label in ROLE_NAMES.items()]


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"))
    new = PasswordField(_l("New password"), description=_l("At least 10 characters."))
    confirm = PasswordField(_l("New password again"))


class NewUserForm(FlaskForm):
    email = EmailField(_l("Email"))
    password = PasswordField(_l("Password"), description=_l("At least 10 characters."))
    role = SelectField(_l("Role"), choices=_role_choices(), default=SENDER)


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_role_choices())


class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), description=_l("What will use it, e.g. “billing service”."))


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


class SettingsForm(FlaskForm):
    """A person's own language and time zone (the choices are filled in by the view)."""

    language = SelectField(_l("Language"), choices=[], validate_choice=True)
    timezone = SelectField(
        _l("Time zone"),
        choices=[],
        description=_l("Every time on the pages is shown, and typed, in this zone."),
    )


class LanguageForm(FlaskForm):
    """The header's language switch: one button per language, and the page to come back to."""

    language = HiddenField()
    next = HiddenField()
