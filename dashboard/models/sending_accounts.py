"""The SMTP accounts mail goes out through, besides the default one the MAIL_* settings name,
and the pools that spread a campaign's mail over several of them.

A secret (a password, or an XOAUTH2 client secret and refresh token) is kept only as a Fernet
token (`sending/accounts/secrets.py`): the database alone never gives it away.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.base import IDS_NEVER_REUSED, utcnow


class SendingAccount(db.Model):
    """One SMTP account: where it is, how it logs in, what it may send as, how fast."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    tls_mode: Mapped[str] = mapped_column(String(16), default="starttls")  # none, starttls, tls
    username: Mapped[str] = mapped_column(String(320), default="")
    auth: Mapped[str] = mapped_column(String(16), default="password")  # password or xoauth2
    # XOAUTH2 only: the OAuth client and where its access tokens come from (not secrets).
    oauth_client_id: Mapped[str] = mapped_column(String(255), default="")
    oauth_token_url: Mapped[str] = mapped_column(String(500), default="")
    # A Fernet token of the secrets as JSON; "" when the account logs in with no secret.
    secret: Mapped[str] = mapped_column(Text, default="")
    # One per line: an exact address, or @domain for any address of that domain; none = any.
    from_allowed: Mapped[str] = mapped_column(Text, default="")
    per_second: Mapped[float] = mapped_column(Float, default=0.0)
    per_day: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def from_patterns(self) -> list[str]:
        return [line.strip().lower() for line in self.from_allowed.splitlines() if line.strip()]


class AccountPool(db.Model):
    """A named set of accounts a campaign can send through: its mail is spread over them."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[PoolMember]] = relationship(
        back_populates="pool", order_by="PoolMember.position", cascade="all, delete-orphan"
    )

    @property
    def accounts(self) -> list[SendingAccount]:
        return [member.account for member in self.members]


class PoolMember(db.Model):
    """An account's place in a pool."""

    pool_id: Mapped[int] = mapped_column(
        ForeignKey("account_pool.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("sending_account.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    pool: Mapped[AccountPool] = relationship(back_populates="members")
    account: Mapped[SendingAccount] = relationship(lazy="joined")
