"""What an account or a pool must look like: one set of rules for the dashboard's form, the API
(`/api/v1/accounts`, `/api/v1/pools`) and its OpenAPI document. Answers never hold a secret."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dashboard.mail.addresses import AddressError, parse_mailbox
from dashboard.mail.oauth import GOOGLE_TOKEN_URL

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _name(value: str) -> str:
    value = value.strip()
    if not NAME.match(value):
        raise ValueError(_("1 to 64 letters, digits, dots, dashes or underscores"))
    return value


class AccountIn(BaseModel):
    """A sending account. Secrets left out (or null) when changing one keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A name campaigns and API calls use: `gmail-sales`.")
    host: str = Field(min_length=1, max_length=255, description="SMTP server: `smtp.gmail.com`.")
    port: int = Field(default=587, ge=1, le=65535)
    tls_mode: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="`starttls` (port 587), `tls` (port 465) or `none`."
    )
    username: str = Field(default="", max_length=320)
    auth: Literal["password", "xoauth2"] = Field(
        default="password", description="Log in with the password, or with XOAUTH2."
    )
    password: str | None = Field(default=None, max_length=1000, description="Write-only.")
    oauth_client_id: str = Field(default="", max_length=255)
    oauth_client_secret: str | None = Field(
        default=None, max_length=1000, description="Write-only."
    )
    oauth_refresh_token: str | None = Field(
        default=None, max_length=4000, description="Write-only."
    )
    oauth_token_url: str = Field(default=GOOGLE_TOKEN_URL, max_length=500)
    from_allowed: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="From addresses it may send as: `a@example.com` or `@example.com`; empty: any.",
    )
    per_second: float = Field(default=0.0, ge=0, le=10000, description="0: no limit.")
    per_day: int = Field(default=0, ge=0, le=100_000_000, description="0: no limit.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^[A-Za-z0-9.:\[\]-]+$", value):
            raise ValueError(_("a host name or an IP address"))
        return value

    @field_validator("username", "oauth_client_id")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n\0"):
            raise ValueError(_("one line"))
        return value.strip()

    @field_validator("oauth_token_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(_("an http(s) URL"))
        return value.strip()

    @field_validator("from_allowed")
    @classmethod
    def _from(cls, values: list[str]) -> list[str]:
        patterns = []
        for value in values:
            value = value.strip().lower()
            if not value:
                continue
            try:
                parse_mailbox(("x" + value) if value.startswith("@") else value)
            except AddressError:
                raise ValueError(
                    _("'%(value)s' is neither an address nor @domain", value=value)
                ) from None
            patterns.append(value)
        return list(dict.fromkeys(patterns))


class AccountOut(BaseModel):
    """A sending account as the API shows it: never its secrets, only whether they are set."""

    id: int
    name: str
    host: str
    port: int
    tls_mode: str
    username: str
    auth: str
    oauth_client_id: str
    oauth_token_url: str
    has_secret: bool
    from_allowed: list[str]
    per_second: float
    per_day: int


class PoolIn(BaseModel):
    """A pool: the accounts, by name, its mail is spread over."""

    model_config = ConfigDict(extra="forbid")

    name: str
    accounts: list[str] = Field(min_length=1, max_length=50)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _name(value)


class PoolOut(BaseModel):
    id: int
    name: str
    accounts: list[str]


class AccountsOut(BaseModel):
    accounts: list[AccountOut]
    pools: list[PoolOut]
