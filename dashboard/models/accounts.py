"""Who may use the dashboard and the API: people who sign in, and the tokens they hand to
programs. Neither stores a secret in a form that could be used if the database leaked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.base import utcnow


class User(db.Model):
    """A person who signs in with an email address and a password (kept as a scrypt hash)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # viewer, sender or admin (dashboard/auth/roles.py says what each may do).
    role: Mapped[str] = mapped_column(String(16), default="sender", server_default="sender")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # A disabled user can neither sign in nor use a token; their open sessions end at once.
    disabled_at: Mapped[datetime | None]
    # Part of every session's user id: raising it ends all of this user's sessions at once
    # (sign-out, a new password, disabling, an admin's "sign out everywhere").
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The person's own choices for the pages ("en", "vi"; an IANA zone); none means the
    # browser's Accept-Language and the dashboard's DISPLAY_TIMEZONE decide.
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", order_by="ApiToken.id", cascade="all, delete-orphan"
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Flask-Login's user interface.
    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """What the session keeps: the id and the generation it was signed in under."""
        return f"{self.id}:{self.session_generation}"


class ApiToken(db.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a person can tell their tokens apart without the secret.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
