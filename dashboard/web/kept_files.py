"""Files a form received when it has to be shown again (a problem to fix, a warning to tick):
a browser cannot put them back in the file input, so the next submit would go without them. They
are kept (sending/kept_uploads.py) under a token the page carries in a hidden field and listed
with a box each to untick (templates/partials/kept_files.html)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app, request
from flask_babel import gettext as _
from wtforms import Field

from dashboard.mail.attachments import AttachmentFile
from dashboard.sending.kept_uploads import UploadsGone, forget_uploads, keep_uploads, kept_uploads


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


def forget_kept(token_field: Field, user_id: int) -> None:
    """Drop what the page kept (the form was taken: its files are in the database now)."""
    if token_field.data:
        forget_uploads(current_app.config, user_id, token_field.data)


def gone_message() -> str:
    return _("The files chosen before are kept for an hour and are gone now: choose them again.")


def keep_for_next_submit(
    token_field: Field, file_field: Field, user_id: int, files: Sequence[AttachmentFile]
) -> list[AttachmentFile]:
    """Keep `files` for the form shown again, in place of what the page kept before; the files
    to list (none, with a problem under `file_field`, when Redis did not keep them)."""
    forget_kept(token_field, user_id)
    token_field.data = ""
    if not files:
        return []
    token = keep_uploads(current_app.config, user_id, files)
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
