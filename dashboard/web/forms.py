"""Web forms: they carry CSRF and render fields; the rules live in `schemas.py`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import MultipleFileField, StringField, TextAreaField


class ComposeForm(FlaskForm):
    to = TextAreaField(
        "To",
        description="One or more addresses, separated by commas or new lines. "
        "Names are welcome: Nguyễn Văn A <a@example.vn>",
    )
    sender = StringField("From", description="Leave empty to use the default sender.")
    subject = StringField("Subject")
    text = TextAreaField("Text body")
    html = TextAreaField("HTML body (optional)")
    attachments = MultipleFileField("Attachments (optional)")
    send_at = StringField(
        "Send at (optional)",
        description="Leave empty to send now. A later time holds the email until then.",
        render_kw={"type": "datetime-local"},
    )
