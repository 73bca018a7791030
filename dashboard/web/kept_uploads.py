"""Files a form received when it has to be shown again (a problem to fix, a warning to tick):
a browser cannot put them back in the file input, so the next submit would go without them. They
are kept in Redis, beside the rate limit, for KEEP_SECONDS under a random token that the page
carries in a hidden field, for the person who sent them only; the page lists them, each with a
box to untick (templates/partials/kept_files.html)."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from flask import current_app, request
from flask_babel import gettext as _
from wtforms import Field

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


def files_still_chosen(token_field: Field, user_id: int) -> list[AttachmentFile]:
    """The files kept from the page shown before (its token in `token_field`), less those the
    person unticked; UploadsGone when they are no longer kept."""
    token = token_field.data
    if not token:
        return []
    try:
        kept = kept_uploads(current_app.config, user_id, token)
    except UploadsGone:
        token_field.data = ""
        raise
    ticked = set(request.form.getlist("keep_file"))
    return [file for index, file in enumerate(kept) if str(index) in ticked]


def gone_message() -> str:
    return _("The files chosen before are kept for an hour and are gone now: choose them again.")


def keep_for_next_submit(
    token_field: Field, file_field: Field, user_id: int, files: Sequence[AttachmentFile]
) -> list[AttachmentFile]:
    """Keep `files` for the form shown again, in place of what the page kept before; the files
    to list (none, with a problem under `file_field`, when Redis did not keep them)."""
    config = current_app.config
    if token_field.data:
        forget_uploads(config, user_id, token_field.data)
    token_field.data = ""
    if not files:
        return []
    token = keep_uploads(config, user_id, files)
    if token is None:
        names = ", ".join(file.filename for file in files)
        lost = _("The files chosen (%(names)s) were not kept: choose them again.", names=names)
        file_field.errors = [*file_field.errors, lost]
        return []
    token_field.data = token
    return list(files)


def kept_again(token_field: Field, file_field: Field, user_id: int) -> list[AttachmentFile]:
    """For a form WTForms refused before its fields were read (a choice it did not offer):
    what the page kept stays kept and listed."""
    try:
        files = files_still_chosen(token_field, user_id)
    except UploadsGone:
        file_field.errors = [*file_field.errors, gone_message()]
        files = []
    return keep_for_next_submit(token_field, file_field, user_id, files)
