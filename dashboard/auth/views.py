"""Signing in and out, and the one-time setup page that creates the first admin."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from dashboard.auth.access import safe_next
from dashboard.auth.accounts import (
    AccountError,
    any_user_exists,
    authenticate,
    change_password,
    check_first_admin,
    check_password_change,
    create_first_admin,
    end_sessions,
    sign_in_key,
)
from dashboard.auth.forms import LoginForm, PasswordForm, SetupForm
from dashboard.auth.roles import SENDER, VIEWER, requires, role_allows
from dashboard.auth.setup_link import setup_token_matches
from dashboard.auth.throttle import ThrottleUnavailable

log = logging.getLogger(__name__)
auth = Blueprint("auth", __name__)


def _end_session() -> None:
    logout_user()
    session.clear()  # nothing from before carries over (no session fixation)
    g.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)  # Flask-WTF caches the old token


def _start_session(user) -> None:
    _end_session()
    login_user(user)
    session.permanent = True


def _home() -> str:
    """Where a person lands after signing in: Compose, or the campaigns for a viewer."""
    if role_allows(current_user.role, SENDER):
        return url_for("compose.compose_page")
    return url_for("campaigns.index")


@auth.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.is_submitted():
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")) or _home())
        form.next.data = safe_next(request.args.get("next")) or ""
        return render_template("auth/login.html", form=form, no_users=not any_user_exists())
    email, password = form.email.data or "", form.password.data or ""
    ip = request.remote_addr or "unknown"
    throttle = current_app.extensions["login_throttle"]
    address_key = sign_in_key(email)  # every spelling of one account shares one budget
    try:
        wait = throttle.take_attempt(address_key, ip)
        if wait:
            minutes = max(1, round(wait / 60))
            form.form_errors.append(
                ngettext(
                    "Too many failed sign-ins. Try again in about %(num)d minute.",
                    "Too many failed sign-ins. Try again in about %(num)d minutes.",
                    minutes,
                )
            )
            return render_template("auth/login.html", form=form), 429, {"Retry-After": str(wait)}
        user = authenticate(email, password)
        if user is None:
            log.info("failed sign-in from %s", ip)  # never the password, nor the address typed
            form.form_errors.append(_("Wrong email or password, or the account is disabled."))
            return render_template("auth/login.html", form=form), 401
        throttle.record_success(address_key, ip)
    except ThrottleUnavailable as error:
        log.error("sign-in refused: the rate limiter's Redis does not answer (%s)", error)
        form.form_errors.append(
            _(
                "Signing in is unavailable right now (the rate limiter cannot be reached). "
                "Try again in a minute."
            )
        )
        return render_template("auth/login.html", form=form), 503
    _start_session(user)
    log.info("user %s signed in from %s", user.id, ip)
    return redirect(safe_next(form.next.data) or _home())


@auth.post("/logout")
@requires(VIEWER)
def logout():
    # Every session of this person ends, not just this cookie: a copy of it (a shared computer,
    # a stolen cookie) stops working too.
    end_sessions(current_user._get_current_object(), action="sign-out")
    _end_session()
    return redirect(url_for("auth.login"))


@auth.route("/account/password", methods=["GET", "POST"])
@requires(VIEWER)
def password():
    """Change one's own password; every other session of the person ends, this one goes on."""
    form = PasswordForm()
    if not form.is_submitted():
        return render_template("auth/password.html", form=form)
    refused = (form.new.data or "") != (form.confirm.data or "")
    if refused:
        form.confirm.errors = [_("the two new passwords differ")]
    user = current_user._get_current_object()
    try:
        if refused:  # nothing changes; the other fields are still checked, to say it all at once
            check_password_change(user, form.current.data or "", form.new.data or "")
        else:
            change_password(user, form.current.data or "", form.new.data or "")
    except AccountError as error:
        for field, problem in error.fields.items():
            getattr(form, "new" if field == "password" else field).errors = [problem]
        refused = True
    if refused:
        return render_template("auth/password.html", form=form), 422
    _start_session(user)
    return render_template("auth/password.html", form=PasswordForm(formdata=None), changed=True)


@auth.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first admin: only while no user exists, and only with the console's link."""
    if any_user_exists():
        abort(404, _("Setup is done: an admin exists. Sign in instead."))
    form = SetupForm()
    token = form.token.data if form.is_submitted() else request.args.get("token")
    if not setup_token_matches(current_app._get_current_object(), token):
        abort(
            403,
            "Open the setup link printed in the console where the dashboard was started, "
            "or create the first admin with `flask --app wsgi create-admin`.",
        )
    form.token.data = token
    if not form.is_submitted():
        return render_template("auth/setup.html", form=form)
    refused = (form.password.data or "") != (form.confirm.data or "")
    if refused:
        form.confirm.errors = [_("the two passwords differ")]
    try:
        if refused:  # nothing is made; the other fields are still checked, to say it all at once
            check_first_admin(form.email.data or "", form.password.data or "")
        else:
            user = create_first_admin(form.email.data or "", form.password.data or "")
    except AccountError as error:
        for name, problem in error.fields.items():
            field = getattr(form, name, None)
            if field is not None and name != "token":
                field.errors = [problem]
            else:
                form.form_errors.append(problem)
        refused = True
    if refused:
        return render_template("auth/setup.html", form=form), 422
    _start_session(user)
    return redirect(_home())
