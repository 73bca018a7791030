"""Command-line verbs: `flask send-test`, `flask mail-catcher`, `flask accounts`.

They call the same service functions as the pages and the API.
"""

from __future__ import annotations

import contextlib
import time

import click
from flask import Flask, current_app
from flask_babel import gettext as _
from pydantic import ValidationError

from dashboard.bounces.mailbox import poll_mailbox
from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.ops.bounce_receiver import run_bounce_receiver
from dashboard.ops.catcher import run_catcher
from dashboard.sending.account_hold import account_hold
from dashboard.sending.accounts.commands import accounts_cli
from dashboard.sending.field_errors import FieldError, field_errors
from dashboard.sending.requests import EmailContent, limits_context
from dashboard.sending.submission import submit_email


@click.command("send-test")
@click.option("--to", "to", required=True, help="Recipient(s), comma separated; names allowed.")
@click.option("--subject", default="Test email from the dispatcher", show_default=True)
@click.option("--text", default="If you can read this, sending works.", show_default=True)
@click.option("--html", default=None, help="An optional HTML body.")
@click.option("--from", "sender", default=None, help="Sender; defaults to MAIL_DEFAULT_SENDER.")
@click.option("--account", default=None, help="A sending account or pool; defaults to MAIL_*.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait (up to --timeout seconds) for the outcome.",
)
@click.option("--timeout", default=60.0, show_default=True)
def send_test(
    to: str,
    subject: str,
    text: str,
    html: str | None,
    sender: str | None,
    account: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Queue a test email through the workers and report what happened to it."""
    try:
        content = EmailContent.model_validate(
            {
                "to": to,
                "subject": subject,
                "text": text,
                "html": html,
                "from": sender,
                "account": account,
            },
            context=limits_context(current_app.config),
        )
    except ValidationError as error:
        for field, message in field_errors(error).items():
            click.echo(f"error: {field}: {message}", err=True)
        raise SystemExit(2) from None
    try:
        campaign = submit_email(content, source="cli")
    except FieldError as error:
        click.echo(f"error: {error.field}: {error}", err=True)
        raise SystemExit(2) from None
    click.echo(
        _(
            "queued campaign %(id)s for %(count)s recipient(s)",
            id=campaign.id,
            count=len(content.recipients),
        )
    )
    if not wait:
        _say_if_held(campaign.id)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _say_if_held(campaign.id):
            raise SystemExit(1)
        db.session.expire_all()
        progress = db.session.get(Campaign, campaign.id).progress()
        if progress.is_final:
            click.echo(
                f"campaign {campaign.id}: {progress.status} "
                + ", ".join(f"{k}={v}" for k, v in progress.as_dict().items() if v)
            )
            raise SystemExit(0 if progress.status == "sent" else 1)
        time.sleep(0.5)
    click.echo(
        _(
            "campaign %(id)s is not finished after %(seconds)ss; is a worker running?",
            id=campaign.id,
            seconds=f"{timeout:.0f}",
        ),
        err=True,
    )
    raise SystemExit(1)


def _say_if_held(campaign_id: int) -> bool:
    """Tell the user when the SMTP account is held (its mail waits); whether it is."""
    hold = account_hold(current_app.config)
    if hold is None:
        return False
    click.echo(
        f"campaign {campaign_id} is waiting, not sent: {hold.describe()}, so its mail is held "
        f"(since {hold.since}). It goes by itself once a probe of the account succeeds "
        "(every ACCOUNT_PROBE_SECONDS); fix the account settings (MAIL_SERVER, MAIL_PORT, "
        "MAIL_USERNAME, MAIL_PASSWORD) if they are wrong.",
        err=True,
    )
    return True


@click.command("mail-catcher")
@click.option("--host", default=None, help="Defaults to CATCHER_HOST.")
@click.option("--port", default=None, type=int, help="Defaults to CATCHER_PORT.")
def mail_catcher(host: str | None, port: int | None) -> None:
    """Run the embedded SMTP catcher; what it catches shows on the Caught mail page."""
    app = current_app._get_current_object()
    host = host or app.config["CATCHER_HOST"]
    port = port or app.config["CATCHER_PORT"]
    click.echo(_("SMTP catcher on %(host)s:%(port)s; press Ctrl-C to stop", host=host, port=port))
    with contextlib.suppress(KeyboardInterrupt):
        run_catcher(app, host, port)


@click.command("bounce-receiver")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=25, type=int, show_default=True)
def bounce_receiver(host: str, port: int) -> None:
    """Receive bounces for BOUNCE_DOMAIN over SMTP (point its MX here) and record them."""
    app = current_app._get_current_object()
    if not app.config.get("BOUNCE_DOMAIN"):
        raise click.UsageError("set BOUNCE_DOMAIN first: the receiver takes mail for it only")
    click.echo(f"bounce receiver for {app.config['BOUNCE_DOMAIN']} on {host}:{port}")
    with contextlib.suppress(KeyboardInterrupt):
        run_bounce_receiver(app, host, port)


@click.command("poll-bounces")
def poll_bounces() -> None:
    """Read the bounce mailbox (BOUNCE_IMAP_*) once now, as beat does every interval."""
    app = current_app._get_current_object()
    if not app.config.get("BOUNCE_IMAP_HOST"):
        raise click.UsageError("set BOUNCE_IMAP_HOST (and its user and password) first")
    result = poll_mailbox(app.config)
    click.echo(f"read {result.read}, recorded {result.recorded}, ignored {result.ignored}")


def init_commands(app: Flask) -> None:
    app.cli.add_command(send_test)
    app.cli.add_command(mail_catcher)
    app.cli.add_command(bounce_receiver)
    app.cli.add_command(poll_bounces)
    app.cli.add_command(accounts_cli)
