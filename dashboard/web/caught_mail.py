"""Caught mail: what the embedded SMTP catcher received, shown safely."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import CaughtMail

outbox = Blueprint("outbox", __name__, url_prefix="/outbox")


@dataclass(frozen=True)
class CaughtView:
    """A caught message taken apart for display: every value here is shown escaped."""

    mail: CaughtMail
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[tuple[str, str, int]]
    recipients: list[str]


def parse_caught(mail: CaughtMail) -> CaughtView:
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(mail.raw)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = [
        (
            part.get_filename() or "(unnamed)",
            part.get_content_type(),
            len(part.get_payload(decode=True) or b""),
        )
        for part in message.iter_attachments()
    ]
    return CaughtView(
        mail=mail,
        headers=[(name, str(value)) for name, value in message.items()],
        text=text_part.get_content() if text_part is not None else None,
        html=html_part.get_content() if html_part is not None else None,
        attachments=attachments,
        recipients=json.loads(mail.rcpt_tos),
    )


@outbox.get("/")
def index():
    caught = db.session.scalars(select(CaughtMail).order_by(CaughtMail.id.desc()).limit(100)).all()
    template = "partials/outbox_list.html" if request.headers.get("HX-Request") else "outbox.html"
    return render_template(template, caught=caught)


@outbox.get("/<int:mail_id>")
def detail(mail_id: int):
    mail = db.session.get(CaughtMail, mail_id) or abort(404, "There is no such caught message.")
    return render_template("outbox_detail.html", view=parse_caught(mail))


@outbox.get("/<int:mail_id>/raw")
def raw(mail_id: int):
    mail = db.session.get(CaughtMail, mail_id) or abort(404, "There is no such caught message.")
    return Response(mail.raw, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})
