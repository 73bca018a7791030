"""Every form of the dashboard's pages, in one place: they carry CSRF and render fields; the
rules live in the services (a submitted email's in `sending/requests.py`, a campaign's in
`campaigns/schemas.py`, a template's in `campaigns/templates.py`). The sign-in and account
forms live with the access code in `auth/forms.py`."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    PasswordField,
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
    account = StringField(
        _l("Send through (optional)"),
        description=_l("A sending account or pool by name; empty: the default account."),
    )
    # Ticked beside the warning that a merge field is empty for some recipients.
    send_anyway = BooleanField(_l("Send anyway: those recipients get the blank"))
    # The files of the page shown before, kept for the next Send (web/kept_files.py).
    kept_files = HiddenField()


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
    # The file of the page shown before, kept for the next submit (web/kept_files.py).
    kept_files = HiddenField()


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


class SendingAccountForm(FlaskForm):
    """A sending account; the rules are `sending/accounts/schemas.py`'s. Secret fields are never
    filled in: left empty when changing an account, they keep what was stored."""

    name = StringField(_l("Name"), description=_l("Campaigns and API calls name it: gmail-sales"))
    host = StringField(_l("SMTP server"), description=_l("smtp.gmail.com"))
    port = StringField(_l("Port"), default="587")
    tls_mode = SelectField(
        _l("TLS"),
        choices=[
            SelectChoice("starttls", _l("STARTTLS (port 587)")),
            SelectChoice("tls", _l("TLS from the start (port 465)")),
            SelectChoice("none", _l("None (a server on this machine only)")),
        ],
        default="starttls",
    )
    username = StringField(_l("User name"))
    auth = SelectField(
        _l("Log in with"),
        choices=[
            SelectChoice("password", _l("A password (or app password)")),
            SelectChoice("xoauth2", _l("XOAUTH2")),
        ],
        default="password",
    )
    password = PasswordField(_l("Password"), description=_l("Empty: keep the stored one."))
    oauth_client_id = StringField(_l("OAuth client id (XOAUTH2)"))
    oauth_client_secret = PasswordField(
        _l("OAuth client secret (XOAUTH2)"), description=_l("Empty: keep the stored one.")
    )
    oauth_refresh_token = PasswordField(
        _l("Refresh token (XOAUTH2)"), description=_l("Empty: keep the stored one.")
    )
    oauth_token_url = StringField(
        _l("Token endpoint (XOAUTH2)"), default="https://oauth2.googleapis.com/token"
    )
    from_allowed = TextAreaField(
        _l("From addresses allowed"),
        description=_l("One a line: an address, or @domain for the whole domain. Empty: any."),
    )
    per_second = StringField(_l("Messages a second"), default="0", description=_l("0: no limit"))
    per_day = StringField(_l("Messages a day"), default="0", description=_l("0: no limit"))


class PoolForm(FlaskForm):
    name = StringField(_l("Pool name"))
    accounts = StringField(
        _l("Accounts"), description=_l("Their names, separated by commas, in order.")
    )
