"""`flask accounts ...`: the sending accounts from the command line (the same services as the
dashboard and the API)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dashboard.sending.accounts.registry import list_accounts, list_pools
from dashboard.sending.accounts.secrets import NoAccountKey, SecretUnreadable, rotate_secrets

accounts_cli = AppGroup("accounts", help=_l("Sending accounts and pools."))


@accounts_cli.command("list", help=_l("Each account (never a secret) and each pool."))
def list_command() -> None:
    for account in list_accounts():
        limits = f"{account.per_second:g}/s, {account.per_day}/day"
        click.echo(
            f"{account.name}\t{account.host}:{account.port}\t{account.tls_mode}\t"
            f"{account.username or '-'}\t{account.auth}\t{limits}"
        )
    for pool in list_pools():
        members = ", ".join(a.name for a in pool.accounts)
        click.echo(_("pool %(name)s: %(accounts)s", name=pool.name, accounts=members))


@accounts_cli.command(
    "rotate-key",
    help=_l(
        "Seal every account's secret again with the first key of ACCOUNT_KEYS; afterwards the "
        "other keys can be removed from ACCOUNT_KEYS."
    ),
)
def rotate_key_command() -> None:
    try:
        count = rotate_secrets(current_app.config)
    except (NoAccountKey, SecretUnreadable) as error:
        click.echo(_("error: %(problem)s", problem=error), err=True)
        raise SystemExit(1) from None
    click.echo(_("sealed %(count)s account secret(s) again with the current key", count=count))
