"""What a CSV campaign submission must look like (the page and the API share these rules), and the
API's answers about campaigns (they generate the OpenAPI document too)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dashboard.campaigns.upload import CampaignContent, CampaignInputError
from dashboard.mail.addresses import AddressError, parse_mailbox
from dashboard.mail.merge import TemplateProblem, compile_merge
from dashboard.models import MessageTemplate
from dashboard.sending.accounts.registry import AccountProblems, resolve_route
from dashboard.sending.field_errors import field_errors
from dashboard.sending.requests import one_line_problem, text_from_html
from dashboard.sending.stored_texts import template_field_problems, translated
from dashboard.sending.submission import default_sender


class CampaignFields(BaseModel):
    """The form fields of `POST /api/v1/campaigns` besides the file (multipart/form-data)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    subject: str = Field(
        default="",
        description="A one-line template, e.g. `Chào {{ name }}`. Taken from the saved template "
        "when empty.",
    )
    text: str = Field(default="", description="The plain-text body template.")
    html: str | None = Field(default=None, description="An optional HTML body template.")
    from_: str | None = Field(
        default=None, alias="from", description="Sender; defaults to MAIL_DEFAULT_SENDER."
    )
    template_id: int | None = Field(
        default=None, description="A saved template whose parts fill the empty fields."
    )
    account: str | None = Field(
        default=None,
        max_length=64,
        description="The sending account or pool (by name) its mail goes through; "
        "left out: the default account.",
    )

    @field_validator("html", "from_", "account", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("template_id", mode="before")
    @classmethod
    def _blank_id_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value


def campaign_content(
    data: dict[str, Any], *, template: MessageTemplate | None, max_body_bytes: int
) -> CampaignContent:
    """Validate a submission (fields empty in it come from `template`); CampaignInputError
    names each bad field."""
    try:
        fields = CampaignFields.model_validate(data)
    except ValidationError as error:
        raise CampaignInputError(field_errors(error)) from None
    subject = fields.subject.strip() or (template.subject if template else "")
    text = fields.text if fields.text.strip() else (template.text_body if template else "")
    html = fields.html or (template.html_body if template else None)
    problems: dict[str, str] = {}
    if not subject:
        problems["subject"] = _("a subject is required")
    elif problem := one_line_problem(subject, _("the subject")):
        problems["subject"] = problem
    for name, body in (("text", text), ("html", html)):
        if body is not None and len(body.encode("utf-8", "surrogatepass")) > max_body_bytes:
            problems[name] = _(
                "the body is larger than %(mb)s MB", mb=max_body_bytes // (1024 * 1024)
            )
    if not text.strip():
        if html and html.strip():
            text = text_from_html(html)
        else:
            problems["text"] = _("a text or an HTML body is required")
    sender = default_sender()
    if fields.from_:
        try:
            sender = parse_mailbox(fields.from_)
        except AddressError as error:
            problems["from"] = translated(str(error))
    account_id = pool_id = None
    if "from" not in problems:
        try:
            account_id, pool_id = resolve_route(fields.account, sender.address)
        except AccountProblems as refused:
            problems.update(refused.fields)
    if problems:
        # The template's own problems too (create_csv_campaign checks them when these pass).
        raise CampaignInputError({**_template_problems(subject, text, html), **problems})
    return CampaignContent(
        subject=subject,
        text=text,
        html=html,
        sender=sender,
        account_id=account_id,
        pool_id=pool_id,
    )


class EmptyFieldOut(BaseModel):
    variable: str = Field(description="A merge field the templates use")
    rows: int = Field(description="How many imported rows have it empty")


class ImportOut(BaseModel):
    status: str = Field(description="uploaded, importing, ready or failed")
    error: str | None
    filename: str
    encoding: str = Field(description="utf-8-sig, utf-16, cp1258 (Windows-1258) or xlsx")
    delimiter: str = Field(description="',', ';' or a tab; empty for an .xlsx workbook")
    columns: list[str] = Field(description="The file's columns as template variables")
    percent: int
    rows_read: int
    valid: int
    invalid: int
    duplicates: int
    suppressed: int
    rows_per_second: float | None
    empty_fields: list[EmptyFieldOut] = Field(
        description="Merge fields the templates use that are empty in some rows"
    )
    invalid_rows_url: str


class InvalidRowOut(BaseModel):
    line: int
    email: str
    reason: str


class RenderedOut(BaseModel):
    """A message exactly as its recipient will get it."""

    to: str
    subject: str
    text: str
    html: str | None
    error: str | None = Field(default=None, description="Why this row cannot be rendered")


class FinishOut(BaseModel):
    """When a campaign that is still sending will finish at the account's limits."""

    remaining: int = Field(description="Messages still to send")
    per_second: float | None = Field(
        description="The configured rate limit, or the measured speed without one"
    )
    per_day: int | None = Field(description="The share of the daily quota this campaign may spend")
    left_today: int | None = Field(description="Of that share, what is left today")
    finishes_at: str | None = Field(
        description="When it finishes at that pace (UTC); null: nothing to tell the pace by"
    )
    days: int = Field(description="Calendar days (UTC) after today that sending goes on into")
    waits_for_tomorrow: bool = Field(description="Today's quota is spent: it waits for tomorrow")


class BouncesOut(BaseModel):
    """What came back after the send, as the campaign's page counts it."""

    bounced: int = Field(description="Messages that bounced hard (now `bounced`)")
    soft_bounces: int = Field(description="Soft bounces read back, all its messages together")
    complaints: int = Field(description="Messages their recipient reported as spam")


class CampaignOut(BaseModel):
    """The answer to `GET /api/v1/campaigns/{id}` (and to the create call, with 202)."""

    id: int
    status: str = Field(description="importing, draft, queued, sending, paused, sent, ...")
    subject: str
    created_at: str
    total: int
    counts: dict[str, int]
    paused: bool
    cancelled: bool
    messages_per_second: float | None
    seconds_left: float | None = Field(
        description="While it is sending: seconds until it finishes, at the account's limits "
        "when they are set (the moment of `finish.finishes_at`), else at the recent pace"
    )
    finish: FinishOut | None = Field(
        default=None, description="While it is sending: when it will finish at the limits"
    )
    csv_import: ImportOut | None = Field(default=None, alias="import")
    invalid_rows: list[InvalidRowOut] = Field(description="The first invalid rows")
    preview: list[RenderedOut] = Field(description="The first messages, rendered")
    bounces: BouncesOut = Field(description="Bounces and complaints read back after the send")
    status_url: str

    model_config = ConfigDict(populate_by_name=True)


class CampaignActionOut(BaseModel):
    """The answer to confirm, pause, resume, cancel and retry-failed."""

    id: int
    action: str
    affected: int = Field(description="Messages queued, cancelled or requeued by the action")
    status: str


class CampaignSummaryOut(BaseModel):
    """A campaign in the list: where it is and its counts; its status_url has the rest."""

    id: int
    status: str = Field(description="importing, draft, queued, sending, paused, sent, ...")
    subject: str = Field(description="As typed: a merge subject keeps its {{ variables }}")
    source: str = Field(description="form, api, csv or cli: how it was submitted")
    created_at: str = Field(description="UTC, ISO 8601")
    total: int = Field(description="Its messages, whatever their state")
    counts: dict[str, int] = Field(description="Its messages by state")
    percent: int = Field(description="Of its messages, those in a final state")
    paused: bool
    cancelled: bool
    status_url: str


class CampaignListOut(BaseModel):
    """The answer to `GET /api/v1/campaigns`: a page of campaigns, newest first."""

    campaigns: list[CampaignSummaryOut] = Field(description="Newest first")
    older: str | None = Field(description="The next page (older campaigns), or null")
    newer: str | None = Field(description="The previous page (newer campaigns), or null")


def _template_problems(subject: str, text: str, html: str | None) -> dict[str, str]:
    try:
        compile_merge(subject, text, html)
    except TemplateProblem as problem:
        return template_field_problems(problem)
    return {}
