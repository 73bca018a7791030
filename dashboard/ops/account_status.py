"""Which SMTP accounts are held, for the banner at the top of every page and for /readyz.

The worker that finds an account unreachable, or its login refused, sets its hold
(`sending.account_hold`); a beat probe lifts it. This module only reads the holds: the default
account's (MAIL_*) and every sending account's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from dashboard.ops.probes import ProbeResult
from dashboard.sending.account_hold import AccountHold
from dashboard.sending.accounts.health import held_accounts


def account_holds() -> list[AccountHold]:
    return held_accounts(current_app.config)


def init_account_banner(app: Flask) -> None:
    """Give every template `account_holds()`, called only where the banner is shown: a whole
    page (base.html) and the parts of pages that refresh themselves (`hold_banner_again.html`),
    so that other HTMX partials cost no look-up."""

    @app.context_processor
    def account_banner() -> dict[str, Callable[[], Any]]:
        return {"account_holds": account_holds}


def probe_account_hold(app: Flask) -> ProbeResult:
    """/readyz's `smtp_account` check: fails while any account's mail is held, and says which
    and why. Its target is the default account's server."""
    with app.app_context():
        holds = held_accounts(app.config)
    target = f"{app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']}"
    if not holds:
        return ProbeResult("smtp_account", True, target, 0)
    why = "; ".join(f"held since {hold.since}: {hold.describe()}" for hold in holds)
    return ProbeResult(
        "smtp_account",
        False,
        target,
        0,
        f"{why}; mail waits, a probe retries the login "
        f"every {app.config['ACCOUNT_PROBE_SECONDS']:g} s",
    )
