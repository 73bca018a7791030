"""Whether the SMTP account is held, for the banner at the top of every page and for /readyz.

The worker that finds the account unreachable, or its login refused, sets the hold
(`sending.account_hold`); a beat probe lifts it. This module only reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from dashboard.ops.probes import ProbeResult
from dashboard.sending.account_hold import AccountHold, account_hold


def held_account() -> AccountHold | None:
    return account_hold(current_app.config)


def init_account_banner(app: Flask) -> None:
    """Give every template `account_hold()`, called only by the pages that show the banner
    (base.html), so that an HTMX partial costs no look-up."""

    @app.context_processor
    def account_banner() -> dict[str, Callable[[], Any]]:
        return {"account_hold": held_account}


def probe_account_hold(app: Flask) -> ProbeResult:
    """/readyz's `smtp_account` check: fails while the account's mail is held, and says why."""
    with app.app_context():
        hold = account_hold(app.config)
    target = f"{app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']}"
    if hold is None:
        return ProbeResult("smtp_account", True, target, 0)
    return ProbeResult(
        "smtp_account",
        False,
        target,
        0,
        f"held since {hold.since}: {hold.describe()}; mail waits, a probe retries the login "
        f"every {app.config['ACCOUNT_PROBE_SECONDS']:g} s",
    )
