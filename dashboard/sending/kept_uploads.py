"""Where the files of a form shown again wait for its next submit (web/kept_files.py): in Redis,
beside the rate limit, for KEEP_SECONDS, under a random token and the person's id, so only the
person who sent them can take them back."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from dashboard.mail.attachments import AttachmentFile
from dashboard.sending.redis_clients import redis_client

KEEP_SECONDS = 3600
KEY_PREFIX = "dispatcher:kept-uploads:"
_TIMEOUT_SECONDS = 2.0
_TOKEN_LENGTH = 32

log = logging.getLogger(__name__)


class UploadsGone(Exception):
    """The kept files are no longer there (kept for an hour), or the token is not this
    person's: the form must say so rather than send without them."""


def _store(config: Mapping[str, Any]) -> redis.Redis:
    return redis_client(config["RATE_LIMIT_REDIS_URL"], _TIMEOUT_SECONDS)


def _key(token: str, user_id: int) -> str:
    return f"{KEY_PREFIX}{user_id}:{token}"


def keep_uploads(
    config: Mapping[str, Any], user_id: int, files: Sequence[AttachmentFile]
) -> str | None:
    """Keep `files` for `user_id`; the token to put in the page, or None when Redis did not
    answer (the page then asks for the files again)."""
    token = secrets.token_hex(_TOKEN_LENGTH // 2)
    names = [{"filename": f.filename, "content_type": f.content_type} for f in files]
    fields: dict[str, bytes] = {"names": json.dumps(names).encode()}
    fields.update({str(index): file.data for index, file in enumerate(files)})
    try:
        with _store(config).pipeline() as pipe:
            pipe.hset(_key(token, user_id), mapping=fields)
            pipe.expire(_key(token, user_id), KEEP_SECONDS)
            pipe.execute()
    except redis.RedisError as error:
        log.warning("uploads not kept for the form shown again (%s)", type(error).__name__)
        return None
    return token


def kept_uploads(config: Mapping[str, Any], user_id: int, token: str) -> list[AttachmentFile]:
    """The files kept under `token` for `user_id`, in the order they were chosen; UploadsGone
    when there are none (expired, another person's, a token made up, Redis not answering)."""
    if len(token) != _TOKEN_LENGTH or not all(c in "0123456789abcdef" for c in token):
        raise UploadsGone
    try:
        fields = _store(config).hgetall(_key(token, user_id))
    except redis.RedisError as error:
        log.warning("kept uploads not read (%s)", type(error).__name__)
        raise UploadsGone from error
    if b"names" not in fields:
        raise UploadsGone
    names = json.loads(fields[b"names"])
    return [
        AttachmentFile(name["filename"], name["content_type"], fields[str(index).encode()])
        for index, name in enumerate(names)
    ]


def forget_uploads(config: Mapping[str, Any], user_id: int, token: str) -> None:
    """Drop what was kept under `token` (sent: it is in the database now)."""
    with contextlib.suppress(redis.RedisError):  # if not, it expires within the hour
        _store(config).delete(_key(token, user_id))
