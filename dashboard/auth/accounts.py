"""People: creating the first admin, adding and disabling users, checking a password.

The setup page, the users page and the CLI all call these functions.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import exists, func, insert, literal, select
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.auth.roles import ADMIN, ROLES, SENDER
from dashboard.extensions import db
from dashboard.models import User, record_event, utcnow
from dashboard.reporting.paging import LARGEST_ID, whole_number
from dashboard.sending.stored_texts import translated

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256
PASSWORD_METHOD = "scrypt"  # werkzeug's scrypt: n=2**15, r=8, p=1, salted


class AccountError(ValueError):
    """A request about an account that cannot be carried out, naming the field at fault;
    `fields` holds every field's problem where several were found at once (the first is
    `field` and the message)."""

    def __init__(self, field: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.fields = fields or {field: message}


def _refuse(problems: dict[str, str]) -> None:
    """AccountError naming each of `problems`, if there is any."""
    if problems:
        field, message = next(iter(problems.items()))
        raise AccountError(field, message, problems)


def _new_account(email: str, password: str, role: str | None = None) -> str:
    """The address of an account about to be made, normalised; AccountError naming every
    field's problem (the address, one taken already, the password, the role)."""
    problems: dict[str, str] = {}
    try:
        email = normalise_email(email)
    except AccountError as error:
        problems.update(error.fields)
    else:
        if db.session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
            problems["email"] = _("there is already a user %(email)s", email=email)
    try:
        check_password_rules(password)
    except AccountError as error:
        problems.update(error.fields)
    if role is not None:
        try:
            check_role(role)
        except AccountError as error:
            problems.update(error.fields)
    _refuse(problems)
    return email


def normalise_email(email: str) -> str:
    """The address as accounts are keyed: NFKC-folded (fullwidth letters and dots become
    plain ones), validated (syntax only, the domain through IDNA, so `。` is a dot) and
    lower-cased."""
    email = unicodedata.normalize("NFKC", email or "").strip()
    if not email:
        raise AccountError("email", _("an email address is required"))
    if len(email) > 320 or any(c in email for c in "\r\n\0"):
        raise AccountError("email", _("that is not a valid email address"))
    try:
        valid = validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError(
            "email", _("that is not a valid email address: %(error)s", error=translated(str(error)))
        ) from None
    return valid.normalized.lower()


def sign_in_key(email: str) -> str:
    """What sign-in attempts on `email` are counted under: the account's own key when the text
    is an address, so every spelling of one account shares one budget (an invalid text can
    open no account; it still gets a key of its own, folded the same way)."""
    try:
        return normalise_email(email)
    except AccountError:
        return unicodedata.normalize("NFKC", email or "").strip().casefold()


def check_password_rules(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise AccountError(
            "password",
            _("the password must be at least %(count)s characters long", count=MIN_PASSWORD_CHARS),
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(
            "password",
            _("the password may be at most %(count)s characters long", count=MAX_PASSWORD_CHARS),
        )
    if "\0" in password:
        raise AccountError("password", _("the password may not contain a NUL character"))
    return password


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password, never matches")


def any_user_exists() -> bool:
    return db.session.scalar(select(exists().where(User.id.is_not(None)))) or False


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError("role", _("the role must be one of %(roles)s", roles=", ".join(ROLES)))
    return role


def create_user(email: str, password: str, *, role: str = SENDER) -> User:
    """Add a user; raise AccountError if the address is taken or the password too weak."""
    email = _new_account(email, password, role)
    user = User(email=email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    db.session.flush()
    record_event("user-created", f"user {user.id}", f"{email} as {role}")
    db.session.commit()
    return user


def check_first_admin(email: str, password: str) -> None:
    """AccountError naming what is wrong with a first admin's address and password, if any."""
    _new_account(email, password)


def create_first_admin(email: str, password: str) -> User:
    """Create the first admin, only while no user exists (the insert checks it atomically)."""
    email = _new_account(email, password)
    row = {
        "email": email,
        "password_hash": hash_password(password),
        "role": ADMIN,
        "created_at": utcnow(),
    }
    statement = insert(User).from_select(
        list(row),
        select(*(literal(value) for value in row.values())).where(~exists().select_from(User)),
    )
    inserted = db.session.execute(statement).rowcount
    if not inserted:
        db.session.rollback()
        raise AccountError("email", _("an admin already exists; sign in instead"))
    user = db.session.scalars(select(User).where(User.email == email)).one()
    record_event("user-created", f"user {user.id}", f"{email} as the first admin")
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this address and password, or None (in about the same time either
    way, so the answer does not tell whether the address has an account)."""
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    user = db.session.scalars(select(User).where(User.email == email)).first() if email else None
    if user is None:
        check_password_hash(_decoy_hash(), password or "")
        # Not the text typed: it may be a password typed in the wrong field.
        record_event("sign-in-failed", "", "no such account", actor="")
        db.session.commit()
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        why = "wrong password" if user.is_active else "account disabled"
        record_event("sign-in-failed", f"user {user.id}", why, actor_id=user.id, actor=user.email)
        db.session.commit()
        return None
    user.last_login_at = utcnow()
    record_event("sign-in", f"user {user.id}", "", actor_id=user.id, actor=user.email)
    db.session.commit()
    return user


def set_disabled(user: User, disabled: bool, *, by: User | None = None) -> User:
    """Disable (or enable again) a user; nobody disables themselves or the last active admin."""
    if disabled and by is not None and by.id == user.id:
        raise AccountError("user", _("you cannot disable yourself"))
    if disabled and user.is_admin and user.is_active:
        _keep_an_admin(user)
    user.disabled_at = utcnow() if disabled else None
    if disabled:
        end_sessions(user, commit=False)
    record_event("user-disabled" if disabled else "user-enabled", f"user {user.id}", user.email)
    db.session.commit()
    return user


def _keep_an_admin(user: User) -> None:
    other_admins = db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == ADMIN, User.disabled_at.is_(None), User.id != user.id)
    )
    if not other_admins:
        raise AccountError("user", _("this is the last active admin"))


def set_role(user: User, role: str) -> User:
    """Give a user another role; the last active admin keeps theirs. Their sessions go on,
    with the new role from their next request (it is read on each one)."""
    check_role(role)
    if user.is_admin and role != ADMIN and user.is_active:
        _keep_an_admin(user)
    record_event("role-changed", f"user {user.id}", f"{user.email}: {user.role} to {role}")
    user.role = role
    db.session.commit()
    return user


def end_sessions(user: User, *, commit: bool = True, action: str = "sessions-ended") -> User:
    """End every session of `user`, on every device: the sessions carry the old generation.
    With `commit` it is an action of its own (sign-out, "sign out everywhere"), recorded."""
    user.session_generation = User.session_generation + 1  # one UPDATE, safe under concurrency
    if commit:
        record_event(action, f"user {user.id}", user.email)
        db.session.commit()
    return user


def user_for_session(session_id: str) -> User | None:
    """The active user of a session's `id:generation`, or None if that session has ended."""
    user_text, separator, generation_text = (session_id or "").partition(":")
    user_id = whole_number(user_text, LARGEST_ID)
    generation = whole_number(generation_text, LARGEST_ID)
    if not separator or user_id is None or generation is None:
        return None  # a session from before generations existed: sign in again
    # Read afresh: a session may have been ended by another process since this one last saw it.
    user = db.session.get(User, user_id, populate_existing=True)
    if user is None or not user.is_active or user.session_generation != generation:
        return None
    return user


def check_password_change(user: User, current: str, new: str) -> None:
    """AccountError naming what is wrong with a change of password (the current one, the new
    one's rules), if anything."""
    problems: dict[str, str] = {}
    if not check_password_hash(user.password_hash, current or ""):
        problems["current"] = _("that is not your current password")
    try:
        check_password_rules(new)
    except AccountError as error:
        problems.update(error.fields)
    _refuse(problems)


def change_password(user: User, current: str, new: str) -> User:
    """Set a new password (the current one must be right); every session of the user ends."""
    check_password_change(user, current, new)
    user.password_hash = hash_password(new)
    end_sessions(user, commit=False)
    record_event("password-changed", f"user {user.id}", user.email)
    db.session.commit()
    return user


def set_password(user: User, new: str) -> User:
    """Set a password from the console (no current one asked); every session of the user ends."""
    check_password_rules(new)
    user.password_hash = hash_password(new)
    end_sessions(user, commit=False)
    record_event("password-set", f"user {user.id}", user.email)
    db.session.commit()
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.id)))


def find_user(email: str) -> User | None:
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    return db.session.scalars(select(User).where(User.email == email)).first()
