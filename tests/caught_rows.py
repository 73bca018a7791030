"""Caught messages written straight into the table, many at once, for the Caught mail tests."""

from __future__ import annotations

import json
from email.message import EmailMessage

from flask import Flask
from sqlalchemy import insert, select

from dashboard.extensions import db
from dashboard.models import CaughtMail
from dashboard.ops.caught_mail import caught_fields


def caught_row(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, object]:
    """The row the catcher would store for these bytes and this envelope."""
    return {
        "mail_from": mail_from,
        "rcpt_tos": json.dumps(rcpt_tos, ensure_ascii=False),
        "raw": raw,
        **caught_fields(raw, mail_from, rcpt_tos),
    }


def simple_mail(subject: str, to: str, sender: str = "Cửa hàng <shop@example.com>") -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail.set_content("Chào bạn")
    return mail.as_bytes()


def seed_caught(app: Flask, rows: list[dict[str, object]], chunk: int = 5000) -> list[int]:
    """Insert `rows` with executemany, in chunks; their ids, oldest first."""
    with app.app_context():
        first = db.session.scalar(select(db.func.max(CaughtMail.id))) or 0
        for start in range(0, len(rows), chunk):
            db.session.execute(insert(CaughtMail), rows[start : start + chunk])
        db.session.commit()
        return list(
            db.session.scalars(
                select(CaughtMail.id).where(CaughtMail.id > first).order_by(CaughtMail.id)
            )
        )
