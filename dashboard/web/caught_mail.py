"""Caught mail: what the embedded SMTP catcher received, shown safely."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from dashboard.mail.reading import preview_html
from dashboard.ops.caught_mail import find_caught, parse_caught, recent_caught
from dashboard.web.html_preview import html_preview

outbox = Blueprint("outbox", __name__, url_prefix="/outbox")


@outbox.get("/")
def index():
    caught = recent_caught()
    template = "partials/outbox_list.html" if request.headers.get("HX-Request") else "outbox.html"
    return render_template(template, caught=caught)


@outbox.get("/<int:mail_id>")
def detail(mail_id: int):
    mail = find_caught(mail_id) or abort(404, "There is no such caught message.")
    return render_template("outbox_detail.html", view=parse_caught(mail))


@outbox.get("/<int:mail_id>/raw")
def raw(mail_id: int):
    mail = find_caught(mail_id) or abort(404, "There is no such caught message.")
    return Response(mail.raw, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})


@outbox.get("/<int:mail_id>/preview")
def preview(mail_id: int):
    """The HTML body alone, for the detail page's sandboxed iframe."""
    mail = find_caught(mail_id) or abort(404, "There is no such caught message.")
    html = preview_html(mail.raw)
    if html is None:
        abort(404, "This message has no HTML body.")
    return html_preview(html)
