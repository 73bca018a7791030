"""`/api/v1/accounts` and `/api/v1/pools`: the sending accounts and pools, admins only. Answers
never hold a secret: an account says only whether it has one."""

from __future__ import annotations

from flask import current_app, jsonify
from flask_babel import gettext as _

from dashboard.api.blueprint import api
from dashboard.api.json_input import json_body
from dashboard.auth import ADMIN, requires
from dashboard.errors import api_error, invalid_fields
from dashboard.sending.accounts.registry import (
    AccountProblems,
    account_out,
    delete_account,
    delete_pool,
    find_account,
    find_pool,
    list_accounts,
    list_pools,
    pool_out,
    save_account,
    save_pool,
)
from dashboard.sending.accounts.schemas import AccountsOut


def _refused(what: str, fields: dict[str, str]):
    summary = {
        "account": _("The sending account was not saved"),
        "pool": _("The pool was not saved"),
    }
    return invalid_fields(summary.get(what, _("It was not saved")), fields)


@api.get("/accounts")
@requires(ADMIN)
def get_accounts():
    answer = AccountsOut(
        accounts=[account_out(a) for a in list_accounts()],
        pools=[pool_out(p) for p in list_pools()],
    )
    return jsonify(answer.model_dump())


@api.post("/accounts")
@requires(ADMIN)
def create_account():
    data, error = json_body()
    if error:
        return error
    try:
        account = save_account(current_app.config, data)
    except AccountProblems as problems:
        return _refused("account", problems.fields)
    return jsonify(account_out(account).model_dump()), 201


@api.put("/accounts/<int:account_id>")
@requires(ADMIN)
def update_account(account_id: int):
    account = find_account(account_id)
    if account is None:
        return api_error(404, _("There is no sending account with id %(id)s.", id=account_id))
    data, error = json_body()
    if error:
        return error
    try:
        account = save_account(current_app.config, data, account)
    except AccountProblems as problems:
        return _refused("account", problems.fields)
    return jsonify(account_out(account).model_dump())


@api.delete("/accounts/<int:account_id>")
@requires(ADMIN)
def remove_account(account_id: int):
    account = find_account(account_id)
    if account is None:
        return api_error(404, _("There is no sending account with id %(id)s.", id=account_id))
    try:
        delete_account(account)
    except AccountProblems as problems:
        return api_error(409, problems.fields["account"])
    return "", 204


@api.post("/pools")
@requires(ADMIN)
def create_pool():
    data, error = json_body()
    if error:
        return error
    try:
        pool = save_pool(data)
    except AccountProblems as problems:
        return _refused("pool", problems.fields)
    return jsonify(pool_out(pool).model_dump()), 201


@api.put("/pools/<int:pool_id>")
@requires(ADMIN)
def update_pool(pool_id: int):
    pool = find_pool(pool_id)
    if pool is None:
        return api_error(404, _("There is no pool with id %(id)s.", id=pool_id))
    data, error = json_body()
    if error:
        return error
    try:
        pool = save_pool(data, pool)
    except AccountProblems as problems:
        return _refused("pool", problems.fields)
    return jsonify(pool_out(pool).model_dump())


@api.delete("/pools/<int:pool_id>")
@requires(ADMIN)
def remove_pool(pool_id: int):
    pool = find_pool(pool_id)
    if pool is None:
        return api_error(404, _("There is no pool with id %(id)s.", id=pool_id))
    try:
        delete_pool(pool)
    except AccountProblems as problems:
        return api_error(409, problems.fields["pool"])
    return "", 204
