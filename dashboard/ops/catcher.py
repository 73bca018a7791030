"""The embedded SMTP catcher: accepts every message and stores it for the "Caught mail" page."""

from __future__ import annotations

import json
import logging
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from flask import Flask

from dashboard.bounces.intake import bounce_domain_of
from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import CaughtMail
from dashboard.ops.bounce_receiver import receive_bounce
from dashboard.ops.caught_mail import caught_fields

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class CatchingHandler:
    """aiosmtpd handler that stores each message it receives as a CaughtMail row."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        rcpt_tos = envelope.rcpt_tos
        if rcpt_tos and all(bounce_domain_of(rcpt, self.app.config) for rcpt in rcpt_tos):
            return receive_bounce(self.app, envelope)  # a bounce coming home, not mail to catch
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        with self.app.app_context():
            try:
                with transaction():
                    db.session.add(
                        CaughtMail(
                            peer=str(session.peer[0]) if session.peer else "",
                            mail_from=envelope.mail_from or "",
                            rcpt_tos=json.dumps(envelope.rcpt_tos, ensure_ascii=False),
                            raw=raw,
                            **caught_fields(raw, envelope.mail_from or "", envelope.rcpt_tos),
                        )
                    )
            except Exception:
                log.exception("could not store a caught message")
                return "451 4.3.0 Could not store the message, try again later"
        return "250 2.0.0 Message caught"


def run_catcher(app: Flask, host: str, port: int, stop: threading.Event | None = None) -> None:
    """Serve until `stop` is set (or forever)."""
    controller = Controller(
        CatchingHandler(app),
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    controller.start()  # (it connects to itself once to check it listens: not logged either)
    log.info("SMTP catcher listening on %s:%s", host, port)
    try:
        (stop or threading.Event()).wait()
    finally:
        controller.stop()
