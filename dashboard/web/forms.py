"""Every form of the dashboard's pages, in one place: they carry CSRF and render fields; the
rules live in the services (a submitted email's in `sending/requests.py`, a campaign's in
`campaigns/schemas.py`, a template's in `campaigns/templates.py`). The sign-in and account
forms live with the access code in `auth/forms.py`."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    HiddenField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.widgets import CheckboxInput, ListWidget


class ComposeForm(FlaskForm):
    to = TextAreaField(
        _l("To"),
        description=_l(
            "One or more addresses, separated by commas or new lines. "
            "Names are welcome: Nguyễn Văn A <a@example.vn>"
        ),
    )
    sender = StringField(_l("From"), description=_l("Leave empty to use the default sender."))
    subject = StringField(_l("Subject"))
    text = TextAreaField(_l("Text body"))
    html = TextAreaField(_l("HTML body (optional)"))
    attachments = MultipleFileField(_l("Attachments (optional)"))
    send_at = StringField(
        _l("Send at (optional)"),
        description=_l("Leave empty to send now. A later time holds the email until then."),
        render_kw={"type": "datetime-local"},
    )


class ActionForm(FlaskForm):
    """A button that changes something (confirm, pause, ...): only the CSRF token."""


class CsvCampaignForm(FlaskForm):
    file = FileField(
        _l("CSV or .xlsx file"),
        description=_l(
            "From Excel (any CSV, or the workbook itself) or Google Sheets: a header row with "
            "an 'email' column; other columns (name, company, ngày, ...) become {{ variables }}."
        ),
    )
    template_id = HiddenField(_l("Saved template"))
    sender = StringField(_l("From"), description=_l("Leave empty to use the default sender."))
    subject = StringField(_l("Subject"), description=_l("For example: Chào {{ name }}"))
    text = TextAreaField(
        _l("Text body"), description=_l("Use the file's columns: {{ name }}, {{ email }}.")
    )
    html = TextAreaField(_l("HTML body (optional)"))


class TemplateForm(FlaskForm):
    name = StringField(_l("Name"))
    subject = StringField(_l("Subject"))
    text = TextAreaField(_l("Text body"))
    html = TextAreaField(_l("HTML body (optional)"))


class SuppressionForm(FlaskForm):
    addresses = TextAreaField(
        _l("Addresses"), description=_l("One or more, separated by commas or new lines.")
    )
    file = FileField(
        _l("…or a CSV file"), description=_l("Its 'email' column (or its first column).")
    )
    reason = SelectField(
        _l("Reason"),
        choices=[
            SelectChoice("manual", _l("added by hand")),
            SelectChoice("bounced", _l("bounced")),
            SelectChoice("unsubscribed", _l("unsubscribed")),
        ],
    )


class MoveForm(FlaskForm):
    """A scheduled campaign's new time."""

    send_at = StringField(_l("New time"), render_kw={"type": "datetime-local", "required": True})


class WebhookForm(FlaskForm):
    """A new webhook endpoint: the rules live in `webhooks/endpoints.py`."""

    url = StringField(
        _l("URL"),
        description=_l("Where the events are posted, e.g. https://app.example.com/hooks/email"),
        render_kw={"type": "url", "inputmode": "url", "autocomplete": "off"},
    )
    description = StringField(_l("Description (optional)"))
    events = SelectMultipleField(
        _l("Events"),
        choices=[
            SelectChoice("sent", _l("sent: the SMTP server accepted the message")),
            SelectChoice("failed", _l("failed: refused, or its retries were used up")),
            SelectChoice("bounced", _l("bounced: a bounce came back for it")),
            SelectChoice("complained", _l("complained: the recipient reported it as spam")),
            SelectChoice("unsubscribed", _l("unsubscribed: the recipient unsubscribed")),
        ],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,  # the service names unknown events, with the other problems
    )
