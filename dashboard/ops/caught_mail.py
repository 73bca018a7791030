"""What the embedded SMTP catcher received, read for the "Caught mail" pages."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.mail.reading import MessageParts, read_message
from dashboard.models import CaughtMail

LIST_LENGTH = 100


@dataclass(frozen=True)
class CaughtView(MessageParts):
    """A caught message taken apart for display."""

    mail: CaughtMail
    recipients: list[str]


def recent_caught() -> list[CaughtMail]:
    """The newest caught messages, newest first."""
    return list(
        db.session.scalars(select(CaughtMail).order_by(CaughtMail.id.desc()).limit(LIST_LENGTH))
    )


def find_caught(mail_id: int) -> CaughtMail | None:
    return db.session.get(CaughtMail, mail_id)


def parse_caught(mail: CaughtMail) -> CaughtView:
    return CaughtView(
        **vars(read_message(mail.raw)), mail=mail, recipients=json.loads(mail.rcpt_tos)
    )
