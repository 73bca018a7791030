"""The built-in SMTP receiver for bounces: point the bounce domain's MX at it and every report
sent to a bounce address is read and recorded as it arrives (`flask bounce-receiver`).

It accepts mail for BOUNCE_DOMAIN only (anything else is refused at RCPT: it is not a relay),
and the embedded catcher hands it the bounces it catches, so a local run closes the loop too.
"""

from __future__ import annotations

import logging
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from flask import Flask

from dashboard.bounces.intake import bounce_domain_of, take_in_report

log = logging.getLogger(__name__)
MAX_REPORT_BYTES = 10 * 1024 * 1024


def receive_bounce(app: Flask, envelope: Envelope) -> str:
    """Record one received report; the SMTP reply to give."""
    raw = envelope.original_content or envelope.content or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    with app.app_context():
        try:
            take_in_report(raw, app.config, rcpt_tos=envelope.rcpt_tos, source="smtp")
        except Exception:
            log.exception("could not record a bounce")
            return "451 4.3.0 Could not record the report, try again later"
    return "250 2.0.0 Report received"


class BounceHandler:
    """aiosmtpd handler: bounce-domain recipients only, each message read as a report."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def handle_RCPT(
        self, server: object, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if not bounce_domain_of(address, self.app.config):
            return "550 5.7.1 Relaying denied: this server takes bounces only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        return receive_bounce(self.app, envelope)


def start_bounce_receiver(app: Flask, host: str, port: int) -> Controller:
    """Start listening in a thread; the caller stops the returned controller."""
    if not app.config.get("BOUNCE_DOMAIN"):
        raise ValueError("BOUNCE_DOMAIN is not set: the receiver would refuse every recipient")
    controller = Controller(
        BounceHandler(app),
        hostname=host,
        port=port,
        data_size_limit=MAX_REPORT_BYTES,
        enable_SMTPUTF8=True,
    )
    controller.start()
    return controller


def run_bounce_receiver(
    app: Flask, host: str, port: int, stop: threading.Event | None = None
) -> None:
    """Serve until `stop` is set (or forever)."""
    controller = start_bounce_receiver(app, host, port)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    log.info("bounce receiver for %s on %s:%s", app.config["BOUNCE_DOMAIN"], host, port)
    try:
        (stop or threading.Event()).wait()
    finally:
        controller.stop()
