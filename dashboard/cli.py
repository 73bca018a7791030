"""Command-line verbs: `flask send-test`, `flask mail-catcher`, `flask accounts`.

They call the same service functions as the pages and the API.
"""

from __future__ import annotations

import contextlib
import time

import click
from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError

from dashboard.bounces.mailbox import poll_mailbox
from dashboard.extensions import db
from dashboard.models import Campaign
from dashboard.ops.bounce_receiver import run_bounce_receiver
from dashboard.ops.catcher import run_catcher
from dashboard.sending.account_hold import account_hold
from dashboard.sending.accounts.commands import accounts_cli
from dashboard.sending.cli_language import (
    option,
    speak_shell_language,
    translate_library_commands,
)
from dashboard.sending.field_errors import FieldError, field_errors
from dashboard.sending.requests import EmailContent, limits_context
from dashboard.sending.stored_texts import translated
from dashboard.sending.submission import submit_email
from dashboard.web.formatting import state


@click.command(
    "send-test",
    help=_l("Queue a test email through the workers and report what happened to it."),
)
@option("--to", "to", required=True, help=_l("Recipient(s), comma separated; names allowed."))
@option(
    "--subject",
    default="Test email from the dispatcher",
    show_default=True,
    help=_l("The subject."),
)
@option(
    "--text",
    default="If you can read this, sending works.",
    show_default=True,
    help=_l("The plain-text body."),
)
@option("--html", default=None, help=_l("An optional HTML body."))
@option("--from", "sender", default=None, help=_l("Sender; defaults to MAIL_DEFAULT_SENDER."))
@option("--account", default=None, help=_l("A sending account or pool; defaults to MAIL_*."))
@option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help=_l("Wait (up to --timeout seconds) for the outcome."),
)
@option("--timeout", default=60.0, show_default=True, help=_l("Seconds to wait at most."))
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
            click.echo(_("error: %(field)s: %(problem)s", field=field, problem=message), err=True)
        raise SystemExit(2) from None
    try:
        campaign = submit_email(content, source="cli")
    except FieldError as error:
        click.echo(
            _("error: %(field)s: %(problem)s", field=error.field, problem=translated(str(error))),
            err=True,
        )
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
            counts = ", ".join(f"{k}={v}" for k, v in progress.as_dict().items() if v)
            click.echo(
                _(
                    "campaign %(id)s: %(status)s %(counts)s",
                    id=campaign.id,
                    status=state(progress.status),
                    counts=counts,
                )
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
        _(
            "campaign %(id)s is waiting, not sent: %(why)s, so its mail is held (since "
            "%(since)s). It goes by itself once a probe of the account succeeds (every "
            "ACCOUNT_PROBE_SECONDS); fix the account settings (MAIL_SERVER, MAIL_PORT, "
            "MAIL_USERNAME, MAIL_PASSWORD) if they are wrong.",
            id=campaign_id,
            why=translated(hold.describe()),
            since=hold.since,
        ),
        err=True,
    )
    return True


@click.command(
    "mail-catcher",
    help=_l("Run the embedded SMTP catcher; what it catches shows on the Caught mail page."),
)
@option("--host", default=None, help=_l("Defaults to CATCHER_HOST."))
@option("--port", default=None, type=int, help=_l("Defaults to CATCHER_PORT."))
def mail_catcher(host: str | None, port: int | None) -> None:
    app = current_app._get_current_object()
    host = host or app.config["CATCHER_HOST"]
    port = port or app.config["CATCHER_PORT"]
    click.echo(_("SMTP catcher on %(host)s:%(port)s; press Ctrl-C to stop", host=host, port=port))
    with contextlib.suppress(KeyboardInterrupt):
        run_catcher(app, host, port)


@click.command(
    "bounce-receiver",
    help=_l("Receive bounces for BOUNCE_DOMAIN over SMTP (point its MX here) and record them."),
)
@option("--host", default="0.0.0.0", show_default=True, help=_l("The address to listen on."))
@option("--port", default=25, type=int, show_default=True, help=_l("The port to listen on."))
def bounce_receiver(host: str, port: int) -> None:
    app = current_app._get_current_object()
    if not app.config.get("BOUNCE_DOMAIN"):
        raise click.UsageError(_("set BOUNCE_DOMAIN first: the receiver takes mail for it only"))
    click.echo(
        _(
            "bounce receiver for %(domain)s on %(host)s:%(port)s",
            domain=app.config["BOUNCE_DOMAIN"],
            host=host,
            port=port,
        )
    )
    with contextlib.suppress(KeyboardInterrupt):
        run_bounce_receiver(app, host, port)


@click.command(
    "poll-bounces",
    help=_l("Read the bounce mailbox (BOUNCE_IMAP_*) once now, as beat does every interval."),
)
def poll_bounces() -> None:
    app = current_app._get_current_object()
    if not app.config.get("BOUNCE_IMAP_HOST"):
        raise click.UsageError(_("set BOUNCE_IMAP_HOST (and its user and password) first"))
    result = poll_mailbox(app.config)
    click.echo(
        _(
            "read %(read)s, recorded %(recorded)s, ignored %(ignored)s",
            read=result.read,
            recorded=result.recorded,
            ignored=result.ignored,
        )
    )


def init_commands(app: Flask) -> None:
    speak_shell_language()
    app.cli.add_command(send_test)
    app.cli.add_command(mail_catcher)
    app.cli.add_command(bounce_receiver)
    app.cli.add_command(poll_bounces)
    app.cli.add_command(accounts_cli)
    translate_library_commands(app.cli)
