"""What a submitted email must look like: one set of rules for the form, the API and the CLI.

The same models validate requests and generate the OpenAPI document (`api/openapi.py`).
Limits that are settings arrive through the validation context (`limits_context`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dashboard.mail.addresses import (
    AddressError,
    Mailbox,
    parse_address_list,
    parse_mailbox,
    parse_mailboxes,
)
from dashboard.mail.attachments import AttachmentFile, guess_content_type, safe_filename
from dashboard.mail.header_encoding import mailbox_header
from dashboard.mail.headers import (
    BidiControlError,
    HeaderInjectionError,
    check_header_value,
    check_no_bidi_controls,
)
from dashboard.sending.field_errors import field_error
from dashboard.sending.schedule import check_send_at, parse_with_offset
from dashboard.sending.stored_texts import translated

MB = 1024 * 1024


# Translated only when a message names it (an error), not on every request.
_THE_SUBJECT = _l("the subject")


def limits_context(config: Any) -> dict[str, int]:
    """The size limits from the app's config, as the validators expect them."""
    return {
        "max_body_bytes": config["MAX_BODY_BYTES"],
        "max_attachments_bytes": config["MAX_ATTACHMENTS_BYTES"],
        "max_recipients": config["MAX_RECIPIENTS_PER_REQUEST"],
    }


def _limit(info: ValidationInfo, name: str) -> int | None:
    return (info.context or {}).get(name)


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else _("%(n)s bytes", n=n)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in {"br", "p", "div", "li", "tr", "h1", "h2", "h3"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_from_html(html: str) -> str:
    """A plain-text part for mail that was given only HTML."""
    extractor = _TextExtractor()
    extractor.feed(html)
    text = re.sub(r"[ \t]+", " ", "".join(extractor.parts))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


@dataclass(frozen=True)
class _ParsedTo:
    """What the `to` field's validator hands the model validator: the value and its parse."""

    value: str | list[str]
    recipients: list[Mailbox]


class EmailContent(BaseModel):
    """An email to one or more recipients: who, what, and from whom."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str | list[str] = Field(
        description="One address, a comma/newline separated list, or an array; display names "
        "allowed: `Nguyễn Văn A <a@example.vn>`.",
        examples=["Nguyễn Văn A <a@example.vn>, b@example.com"],
    )
    subject: str = Field(description="One line, at most 998 characters.")
    text: str = Field(default="", description="The plain-text body (derived from `html` if empty).")
    html: str | None = Field(default=None, description="An optional HTML body.")
    from_: str | None = Field(
        default=None,
        alias="from",
        description="Sender; defaults to the server's MAIL_DEFAULT_SENDER.",
    )
    account: str | None = Field(
        default=None,
        max_length=64,
        description="The sending account or pool (by name) the mail goes through; "
        "left out: the default account. It must be allowed to send as `from`.",
    )

    _recipients: list[Mailbox] = PrivateAttr(default_factory=list)
    _sender: Mailbox | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _text_is_unicode(cls, data: Any) -> Any:
        # JSON's "\ud800" and argv's undecodable bytes arrive as lone surrogates, which no
        # database, header or body encoding takes: refuse them here, naming the field.
        if isinstance(data, dict):
            for name, value in data.items():
                if not _encodes_as_utf8(value):
                    raise field_error(str(name), _("contains text that is not valid Unicode"))
        return data

    @field_validator("subject")
    @classmethod
    def _subject_is_one_line(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(_("a subject is required"))
        if problem := one_line_problem(value, _THE_SUBJECT):
            raise ValueError(problem)
        return value

    @field_validator("text", "html")
    @classmethod
    def _body_within_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit = _limit(info, "max_body_bytes")
        if value is not None and limit is not None:
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise ValueError(
                    _(
                        "the body is %(size)s; the limit is %(limit)s",
                        size=_size(size),
                        limit=_size(limit),
                    )
                )
        return value

    @field_validator("text", "html")
    @classmethod
    def _body_has_no_nul(cls, value: str | None) -> str | None:
        if problem := body_nul_problem(value):
            raise ValueError(problem)
        return value

    # The recipients and the sender are checked as fields, so their problems come in the same
    # answer as every other field's; the model validator below only keeps what they parsed to.
    @field_validator("to")
    @classmethod
    def _recipients_are_valid(cls, value: str | list[str], info: ValidationInfo) -> Any:
        try:
            recipients = _unique(_parse_recipients(value))
        except AddressError as error:
            raise field_error("to", str(error)) from None
        if not recipients:
            raise field_error("to", _("at least one recipient is required"))
        limit = _limit(info, "max_recipients")
        if limit is not None and len(recipients) > limit:
            raise field_error(
                "to",
                _(
                    "%(count)s recipients; one request takes at most %(limit)s "
                    "(upload a CSV for more)",
                    count=len(recipients),
                    limit=limit,
                ),
            )
        unwritable = _unwritable_names(recipients)
        if unwritable:
            raise field_error("to", "; ".join(unwritable))
        return _ParsedTo(value, recipients)

    @field_validator("from_")
    @classmethod
    def _sender_is_valid(cls, value: str | None) -> str | None:
        if value and value.strip():
            try:
                sender = parse_mailbox(value)
            except AddressError as error:
                raise field_error("from", str(error)) from None
            if _unwritable_names([sender]):
                raise field_error("from", _("the display name is too long for an email header"))
        return value

    @model_validator(mode="after")
    def _parse_people(self, info: ValidationInfo) -> EmailContent:
        if isinstance(self.to, _ParsedTo):  # parsed once, by the field's validator
            self._recipients, self.to = self.to.recipients, self.to.value
        if self.from_ and self.from_.strip():
            self._sender = parse_mailbox(self.from_)
        if not self.text.strip():
            if not (self.html and self.html.strip()):
                raise field_error("text", _("a text or an HTML body is required"))
            self.text = text_from_html(self.html)
        return self

    @property
    def recipients(self) -> list[Mailbox]:
        return list(self._recipients)

    @property
    def sender(self) -> Mailbox | None:
        return self._sender


class AttachmentIn(BaseModel):
    """A file to attach, its content in base64."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str | None = Field(default=None, description="Guessed from the name if absent.")
    content_base64: str

    @field_validator("filename")
    @classmethod
    def _filename_shows_as_it_is(cls, value: str) -> str:
        if problem := file_name_problem(value):
            raise ValueError(problem)
        return value

    def to_file(self) -> AttachmentFile:
        try:
            data = base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                _("attachment '%(name)s' is not valid base64", name=self.filename)
            ) from None
        return AttachmentFile(
            safe_filename(self.filename), guess_content_type(self.filename, self.content_type), data
        )


class ScheduledSend(BaseModel):
    """`send_at`, as every API call that can send later takes it."""

    model_config = ConfigDict(extra="forbid")

    send_at: datetime | None = Field(
        default=None,
        description="Send later: an ISO 8601 time with its UTC offset, in the future "
        "(`2026-12-01T09:30:00+07:00`). Leave it out to send now.",
        examples=["2026-12-01T09:30:00+07:00"],
    )

    @field_validator("send_at", mode="before")
    @classmethod
    def _send_at_in_the_future(cls, value: object) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise field_error(
                "send_at", _("give an ISO 8601 string like 2026-12-01T09:30:00+07:00")
            )
        return check_send_at(parse_with_offset(value))


class CampaignConfirm(ScheduledSend):
    """The optional body of `POST /api/v1/campaigns/<id>/confirm`."""


class EmailRequest(EmailContent, ScheduledSend):
    """The body of `POST /api/v1/emails`."""

    attachments: list[AttachmentIn] = Field(default_factory=list)
    merge: bool = Field(
        default=False,
        description="Render the subject and bodies for each recipient as templates, with "
        "{{ name }} (the display name, empty for a bare address) and {{ email }}; without it "
        "they are sent exactly as written, braces and all.",
    )

    @model_validator(mode="after")
    def _decode_attachments(self, info: ValidationInfo) -> EmailRequest:
        try:
            files = [attachment.to_file() for attachment in self.attachments]
        except ValueError as error:
            raise field_error("attachments", str(error)) from None
        check_attachments(files, _limit(info, "max_attachments_bytes"))
        self._files = files
        return self

    _files: list[AttachmentFile] = PrivateAttr(default_factory=list)

    @property
    def files(self) -> list[AttachmentFile]:
        return list(self._files)


def one_line_problem(value: str, field: str) -> str | None:
    """Why `value` cannot be one line of a mail's header (a control character, a NUL, too
    long), in the reader's language, `field` naming it; None when it can."""
    try:
        check_header_value(value, field=field)
    except HeaderInjectionError as error:
        return translated(str(error))
    return None


def file_name_problem(filename: str) -> str | None:
    """Why `filename` cannot name an attachment as given (a bidirectional control character
    would show it as another name), in the reader's language; None when it can."""
    try:
        check_no_bidi_controls(filename, field=_("the file name '%(name)s'", name=filename[:60]))
    except BidiControlError as error:
        return translated(str(error))
    return None


def body_nul_problem(body: str | None) -> str | None:
    """Why `body` cannot be a message's text, if it holds a NUL: a message may not (RFC 5322
    2.3) and PostgreSQL refuses one in text, so it is refused by field rather than failing at
    the INSERT on one engine only."""
    if body is not None and "\0" in body:
        return _("the body contains a NUL character, which an email may not carry")
    return None


def check_attachments(files: list[AttachmentFile], limit: int | None) -> None:
    """Refuse attachments past the total size limit."""
    total = sum(len(f.data) for f in files)
    if limit is not None and total > limit:
        raise field_error(
            "attachments",
            _(
                "the attachments come to %(size)s; the limit is %(limit)s",
                size=_size(total),
                limit=_size(limit),
            ),
        )


def _encodes_as_utf8(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    elif isinstance(value, dict):
        return all(_encodes_as_utf8(k) and _encodes_as_utf8(v) for k, v in value.items())
    elif isinstance(value, list):
        return all(_encodes_as_utf8(item) for item in value)
    return True


def _parse_recipients(to: str | list[str]) -> list[Mailbox]:
    """A string is a list as people type it; each array item is exactly one address."""
    return parse_address_list(to) if isinstance(to, str) else parse_mailboxes(to)


def _unwritable_names(mailboxes: list[Mailbox]) -> list[str]:
    """Each mailbox that no header line could carry, by position: refused now, not in the worker."""
    problems = []
    for position, mailbox in enumerate(mailboxes, start=1):
        try:
            mailbox_header("To", mailbox)
        except HeaderInjectionError as error:
            problems.append(
                _(
                    "recipient %(position)s: the name %(problem)s",
                    position=position,
                    problem=str(error).removeprefix("to name "),
                )
            )
    return problems


def _unique(mailboxes: list[Mailbox]) -> list[Mailbox]:
    seen: set[str] = set()
    unique = []
    for mailbox in mailboxes:
        if mailbox.address.lower() not in seen:
            seen.add(mailbox.address.lower())
            unique.append(mailbox)
    return unique
