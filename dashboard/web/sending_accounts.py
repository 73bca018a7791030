"""The sending accounts page (admins): the accounts and pools, adding and changing an account,
adding a pool, removing either. Secrets are never put back into a page."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from dashboard.auth import ADMIN, requires
from dashboard.models import SendingAccount
from dashboard.sending.accounts.registry import (
    AccountProblems,
    delete_account,
    delete_pool,
    find_account,
    find_pool,
    list_accounts,
    list_pools,
    save_account,
    save_pool,
)
from dashboard.web.forms import ActionForm, PoolForm, SendingAccountForm

sending_accounts = Blueprint("sending_accounts", __name__, url_prefix="/accounts")

SECRET_FIELDS = ("password", "oauth_client_secret", "oauth_refresh_token")


def _account_data(form: SendingAccountForm) -> dict[str, Any]:
    data: dict[str, Any] = {
        name: (getattr(form, name).data or "").strip()
        for name in (
            "name",
            "host",
            "port",
            "tls_mode",
            "username",
            "auth",
            "oauth_client_id",
            "oauth_token_url",
            "per_second",
            "per_day",
        )
    }
    data["from_allowed"] = (form.from_allowed.data or "").splitlines()
    for name in SECRET_FIELDS:  # empty: keep what is stored
        data[name] = getattr(form, name).data or None
    return data


def _show_problems(form: Any, problems: dict[str, str]) -> None:
    for name, message in problems.items():
        field = getattr(form, name.split(".")[0], None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(f"{name}: {message}")


def _save(form: SendingAccountForm, existing: SendingAccount | None) -> bool:
    try:
        save_account(current_app.config, _account_data(form), existing)
    except AccountProblems as problems:
        _show_problems(form, problems.fields)
        return False
    return True


def _page(form: SendingAccountForm, pool_form: PoolForm, status: int = 200):
    return render_template(
        "sending_accounts.html",
        accounts=list_accounts(),
        pools=list_pools(),
        form=form,
        pool_form=pool_form,
        action_form=ActionForm(),
    ), status


@sending_accounts.route("/", methods=["GET", "POST"])
@requires(ADMIN)
def index():
    form = SendingAccountForm()
    if form.validate_on_submit():
        if _save(form, None):
            flash(_("The account %(name)s was added.", name=form.name.data.strip()))
            return redirect(url_for("sending_accounts.index"))
        return _page(form, PoolForm(formdata=None, prefix="pool"), 422)
    return _page(form, PoolForm(formdata=None, prefix="pool"), 400 if form.errors else 200)


@sending_accounts.route("/<int:account_id>", methods=["GET", "POST"])
@requires(ADMIN)
def edit(account_id: int):
    account = find_account(account_id) or abort(404, _("There is no such account."))
    form = SendingAccountForm(obj=account)  # what was posted wins over the stored values
    if request.method == "GET":
        form.per_second.data = f"{account.per_second:g}"
    status = 200
    if form.validate_on_submit():
        if _save(form, account):
            flash(_("The account %(name)s was saved.", name=account.name))
            return redirect(url_for("sending_accounts.index"))
        status = 422
    elif form.errors:
        status = 400
    return render_template("sending_account_edit.html", account=account, form=form), status


@sending_accounts.post("/<int:account_id>/remove")
@requires(ADMIN)
def remove(account_id: int):
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and try again."))
    account = find_account(account_id) or abort(404, _("There is no such account."))
    try:
        delete_account(account)
    except AccountProblems as problems:
        flash(_("Not removed: %(why)s", why=problems.fields["account"]))
    else:
        flash(_("The account %(name)s was removed.", name=account.name))
    return redirect(url_for("sending_accounts.index"))


@sending_accounts.post("/pools")
@requires(ADMIN)
def add_pool():
    pool_form = PoolForm(prefix="pool")
    if pool_form.validate_on_submit():
        try:
            pool = save_pool(
                {
                    "name": (pool_form.name.data or "").strip(),
                    "accounts": [
                        n for n in (pool_form.accounts.data or "").split(",") if n.strip()
                    ],
                }
            )
        except AccountProblems as problems:
            _show_problems(pool_form, problems.fields)
        else:
            flash(_("The pool %(name)s was added.", name=pool.name))
            return redirect(url_for("sending_accounts.index"))
        return _page(SendingAccountForm(formdata=None), pool_form, 422)
    return _page(SendingAccountForm(formdata=None), pool_form, 400)


@sending_accounts.post("/pools/<int:pool_id>/remove")
@requires(ADMIN)
def remove_pool(pool_id: int):
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and try again."))
    pool = find_pool(pool_id) or abort(404, _("There is no such pool."))
    try:
        delete_pool(pool)
    except AccountProblems as problems:
        flash(_("Not removed: %(why)s", why=problems.fields["pool"]))
    else:
        flash(_("The pool %(name)s was removed.", name=pool.name))
    return redirect(url_for("sending_accounts.index"))
