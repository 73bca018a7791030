"""The "Your settings" page (language and time zone) and the header's language switch."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth.access import public, safe_next
from dashboard.auth.forms import LanguageForm, SettingsForm
from dashboard.auth.preferences import (
    LANGUAGE_COOKIE,
    LANGUAGES,
    save_preferences,
    zone_names,
)
from dashboard.auth.roles import VIEWER, requires
from dashboard.sending.schedule import configured_zone

settings = Blueprint("settings", __name__)

# A year: the choice of a signed-out person outlives their visit.
COOKIE_SECONDS = 365 * 24 * 3600


def _settings_form(**kwargs) -> SettingsForm:
    form = SettingsForm(**kwargs)
    form.language.choices = [("", _("As my browser asks")), *LANGUAGES.items()]
    default = _("As the dashboard: %(zone)s", zone=configured_zone().key)
    form.timezone.choices = [("", default), *((name, name) for name in zone_names())]
    return form


@settings.route("/account/settings", methods=["GET", "POST"])
@requires(VIEWER)
def page():
    user = current_user._get_current_object()
    if request.method == "GET":
        form = _settings_form(
            formdata=None, language=user.language or "", timezone=user.timezone or ""
        )
        return render_template("auth/settings.html", form=form, saved=request.args.get("saved"))
    form = _settings_form()
    if not form.validate():
        return render_template("auth/settings.html", form=form), 422
    save_preferences(user, language=form.language.data, zone=form.timezone.data)
    return redirect(url_for("settings.page", saved=1))


@settings.post("/language")
@public
def switch_language():
    """The header's switch: kept on the user when signed in, and in a cookie either way."""
    form = LanguageForm()
    language = form.language.data if form.language.data in LANGUAGES else None
    target = safe_next(form.next.data) or url_for("auth.login")
    response = redirect(target)
    if language is None:
        return response
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        save_preferences(user, language=language, zone=user.timezone)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=COOKIE_SECONDS,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        httponly=True,
    )
    return response
