"""Web forms of the CSV campaign, template and suppression pages: they carry CSRF and render
fields; the rules live in the services and `campaign_schemas.py`."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField


class ActionForm(FlaskForm):
    """A button that changes something (confirm, pause, ...): only the CSRF token."""


class CsvCampaignForm(FlaskForm):
    file = FileField(
        "CSV file",
        description="From Excel ('CSV UTF-8') or Google Sheets: a header row with an 'email' "
        "column; other columns (name, company, ngày, ...) become {{ variables }}.",
    )
    template_id = HiddenField("Saved template")
    sender = StringField("From", description="Leave empty to use the default sender.")
    subject = StringField("Subject", description="For example: Chào {{ name }}")
    text = TextAreaField(
        "Text body", description="Use the file's columns: {{ name }}, {{ email }}."
    )
    html = TextAreaField("HTML body (optional)")


class TemplateForm(FlaskForm):
    name = StringField("Name")
    subject = StringField("Subject")
    text = TextAreaField("Text body")
    html = TextAreaField("HTML body (optional)")


class SuppressionForm(FlaskForm):
    addresses = TextAreaField(
        "Addresses", description="One or more, separated by commas or new lines."
    )
    file = FileField("…or a CSV file", description="Its 'email' column (or its first column).")
    reason = SelectField(
        "Reason",
        choices=[
            SelectChoice("manual", "added by hand"),
            SelectChoice("bounced", "bounced"),
            SelectChoice("unsubscribed", "unsubscribed"),
        ],
    )
