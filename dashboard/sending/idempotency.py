"""`Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a request that creates a
campaign, sent again with the same key by the same user within a day, gets the first request's
campaign back instead of a second one.

Exactly once comes from the database, not from a check-then-act: the key's row is inserted in the
same transaction as its campaign, under a unique (user, key) constraint. A duplicate that arrives
while the first is still being stored waits at that insert (PostgreSQL's unique index, SQLite's
write lock) until the first commits, then fails it, rolls its own campaign back, and answers with
the first one's. A wait longer than IDEMPOTENCY_WAIT_SECONDS (on SQLite: its lock timeout)
answers "in progress, retry" instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.models import Campaign, IdempotencyKey, utcnow

HEADER = "Idempotency-Key"
KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Expired keys are deleted a batch at a time whenever a new key is stored.
_PURGE_BATCH = 500
_READ_CHUNK = 1024 * 1024


class IdempotencyKeyInvalid(ValueError):
    """The header is not a key this server takes."""


class IdempotencyKeyReused(Exception):
    """The key was already used, by this user, with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(
            _(
                "The %(header)s '%(key)s' was already used with a different request; a retry "
                "must send the same request, and a new request needs a new key.",
                header=HEADER,
                key=key,
            )
        )


class IdempotencyKeyBusy(Exception):
    """The wait for the database ran out: the first request with this key may still be being
    stored."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "An earlier request with this %(header)s may still be in progress: this one "
                "could not be stored yet. Retry it with the same key in a moment.",
                header=HEADER,
            )
        )


@dataclass(frozen=True)
class IdempotentRequest:
    """Who sent a key, the key, and what the request was (see `request_hash`)."""

    user_id: int
    key: str
    request_hash: str


@dataclass(frozen=True)
class Created:
    """The campaign a request stands for, and whether an earlier request had created it."""

    campaign: Campaign
    replayed: bool


def parse_key(values: Sequence[str]) -> str | None:
    """The key of the request's `Idempotency-Key` headers (None without one). The draft's
    structured-field form ("...") and a bare value are the same key."""
    if not values:
        return None
    if len(values) > 1:
        raise IdempotencyKeyInvalid(
            _("send one %(header)s header, not %(count)s", header=HEADER, count=len(values))
        )
    value = values[0].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value:
        raise IdempotencyKeyInvalid(_("is empty; send a unique string such as a UUID"))
    if len(value) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalid(
            _(
                "is %(length)s characters long; a key has at most %(limit)s",
                length=len(value),
                limit=MAX_KEY_LENGTH,
            )
        )
    if not all(" " <= character <= "~" for character in value):
        raise IdempotencyKeyInvalid(_("may hold printable ASCII characters only (a UUID, say)"))
    if "," in value or '"' in value:
        # A server joins repeated headers with commas: "a, b" may be two keys, so neither.
        raise IdempotencyKeyInvalid(
            _("may not hold a comma or a double quote (send one header with one key)")
        )
    return value


def json_request_hash(operation: str, body: Any) -> str:
    """The hash of a JSON request: its parsed body serialised canonically, so a retry that
    orders its keys or spaces differently is the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return request_hash(operation, [canonical.encode("utf-8", "surrogatepass")])


def upload_request_hash(
    operation: str, file: IO[bytes], filename: str, fields: Iterable[tuple[str, str]]
) -> str:
    """The hash of a multipart upload: the file's name and bytes and the form fields (in any
    order). The file is read to its end and rewound."""
    # Sorted by their text: a field may come without a value (None), which does not compare.
    ordered = sorted(fields, key=lambda field: json.dumps(field, ensure_ascii=False))
    head = json.dumps([filename, ordered], ensure_ascii=False)

    def parts() -> Iterable[bytes]:
        yield head.encode("utf-8", "surrogatepass")
        while chunk := file.read(_READ_CHUNK):
            yield chunk
        file.seek(0)

    return request_hash(operation, parts())


def request_hash(operation: str, parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256(operation.encode() + b"\0")
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def create_once(
    request: IdempotentRequest | None,
    create: Callable[[IdempotencyKey | None], Campaign],
) -> Created:
    """Run `create` (which must store the key row it is given in its campaign's transaction)
    unless this user's key already stands for a campaign; then return that one. Raises
    IdempotencyKeyReused for the same key with a different request, IdempotencyKeyBusy when the
    wait for the database ran out (the first request holding the key, say). Whatever `create`
    raises (a request's validation, say) stores nothing and leaves the key free."""
    if request is None:
        return Created(create(None), replayed=False)
    earlier = _earlier_campaign(request, live_only=True)
    if earlier is not None:
        return Created(earlier, replayed=True)
    row = IdempotencyKey(
        user_id=request.user_id, key=request.key, request_hash=request.request_hash
    )
    try:
        _purge_expired(request)
        _bound_lock_wait()
        return Created(create(row), replayed=False)
    except IntegrityError:
        db.session.rollback()
        earlier = _earlier_campaign(request, live_only=False)
        if earlier is None:  # the conflict was not this key's
            raise
        return Created(earlier, replayed=True)
    except OperationalError as error:
        db.session.rollback()
        if _is_lock_timeout(error):
            raise IdempotencyKeyBusy() from None
        raise
    except BaseException:
        db.session.rollback()  # a refused request holds no transaction open
        raise


def _earlier_campaign(request: IdempotentRequest, *, live_only: bool) -> Campaign | None:
    query = select(IdempotencyKey).where(
        IdempotencyKey.user_id == request.user_id, IdempotencyKey.key == request.key
    )
    if live_only:
        query = query.where(IdempotencyKey.created_at >= utcnow() - KEY_LIFETIME)
    row = db.session.scalars(query).one_or_none()
    if row is None:
        return None
    if row.request_hash != request.request_hash:
        raise IdempotencyKeyReused(request.key)
    return db.session.get(Campaign, row.campaign_id)


def _purge_expired(request: IdempotentRequest) -> None:
    """Delete this key if it expired (so it can be used again), and a batch of other expired
    keys; rows another transaction is deleting are skipped, never waited for."""
    cutoff = utcnow() - KEY_LIFETIME
    others = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < cutoff)
        .order_by(IdempotencyKey.id)
        .limit(_PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    with transaction():
        _bound_lock_wait()
        db.session.execute(
            delete(IdempotencyKey)
            .where(
                IdempotencyKey.user_id == request.user_id,
                IdempotencyKey.key == request.key,
                IdempotencyKey.created_at < cutoff,
            )
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.id.in_(others))
            .execution_options(synchronize_session=False)
        )


def _bound_lock_wait() -> None:
    # PostgreSQL would wait for the first request's transaction for as long as it lasts.
    if db.engine.dialect.name == "postgresql":
        milliseconds = max(1, round(current_app.config["IDEMPOTENCY_WAIT_SECONDS"] * 1000))
        db.session.execute(text(f"SET LOCAL lock_timeout = {milliseconds}"))


def _is_lock_timeout(error: OperationalError) -> bool:
    if getattr(error.orig, "sqlstate", None) == "55P03":  # PostgreSQL's lock_not_available
        return True
    return "database is locked" in str(error.orig)
