"""The suppression list page: see it, add addresses by hand or from a CSV, take one off."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth import SENDER, VIEWER, requires
from dashboard.campaigns.csv_reading import CsvFormatError
from dashboard.campaigns.suppression_csv import addresses_from_csv
from dashboard.extensions import db
from dashboard.mail.addresses import AddressError, split_address_list
from dashboard.mail.attachments import AttachmentFile
from dashboard.mail.recipient_check import check_address
from dashboard.mail.sentences import N_
from dashboard.models import Suppression, SuppressionReason
from dashboard.sending.kept_uploads import UploadsGone
from dashboard.sending.stored_texts import translated
from dashboard.sending.suppression import (
    recent_suppressions,
    suppress,
    suppression_count,
    unsuppress,
)
from dashboard.web.forms import ActionForm, SuppressionForm
from dashboard.web.kept_files import (
    files_still_chosen,
    forget_kept,
    gone_message,
    keep_for_next_submit,
    kept_again,
)

suppressions = Blueprint("suppressions", __name__, url_prefix="/suppressions")
ROWS_SHOWN = 200
BAD_ENTRIES_SHOWN = 20  # per field
_ENTRY = N_("entry %(n)s: %(error)s")
_LINE = N_("line %(n)s of the file: %(error)s")


@suppressions.route("/", methods=["GET", "POST"])
@requires(GET=VIEWER, POST=SENDER)
def index():
    form = SuppressionForm()
    status, kept = 200, []
    if form.validate_on_submit():
        typed = split_address_list(form.addresses.data or "")
        in_file: list[tuple[int, str]] = []
        chosen = _chosen_file(form)
        try:
            if chosen is not None:
                in_file = addresses_from_csv(chosen.data)
        except CsvFormatError as error:
            form.file.errors = [translated(str(error))]
        addresses: list[str] = []
        # Each refusal where it was written: the box's by entry, the file's by line.
        for errors, entries, where in (
            (form.addresses.errors, enumerate(typed, start=1), _ENTRY),
            (form.file.errors, in_file, _LINE),
        ):
            for position, item in entries:
                try:
                    addresses.append(check_address(item))
                except AddressError as error:
                    if len(errors) < BAD_ENTRIES_SHOWN:
                        errors.append(_(where, n=position, error=translated(str(error))))
        if not addresses and not form.errors:
            form.addresses.errors = [_("give at least one address, or a CSV file")]
        if form.errors:
            status = 422
            # Kept for the next submit unless the file itself is what to fix.
            readable = [chosen] if chosen is not None and not form.file.errors else []
            kept = keep_for_next_submit(form.kept_files, form.file, current_user.id, readable)
        else:
            forget_kept(form.kept_files, current_user.id)  # read: it is on the list now
            added = suppress(addresses, SuppressionReason(form.reason.data))
            flash(
                _(
                    "%(added)s address(es) added; %(known)s were on the list already.",
                    added=added,
                    known=len(addresses) - added,
                )
            )
            return redirect(url_for("suppressions.index"))
    elif form.errors:  # refused by WTForms itself (a choice not offered): the file stays kept
        status = 400
        kept = kept_again(form.kept_files, form.file, current_user.id)
    rows = recent_suppressions(ROWS_SHOWN)
    return render_template(
        "suppressions.html",
        form=form,
        kept=kept,
        rows=rows,
        total=suppression_count(),
        action_form=ActionForm(),
        rows_shown=ROWS_SHOWN,
    ), status


def _chosen_file(form: SuppressionForm) -> AttachmentFile | None:
    """The file chosen now, or else the one kept from the page shown before (if still ticked);
    a kept file that is gone is a problem of the file field."""
    upload = form.file.data
    if upload and upload.filename:
        return AttachmentFile(upload.filename, upload.mimetype or "text/csv", upload.read())
    try:
        kept = files_still_chosen(form.kept_files, current_user.id)
    except UploadsGone:
        form.file.errors = [gone_message()]
        return None
    return kept[0] if kept else None


@suppressions.post("/<int:suppression_id>/remove")
@requires(SENDER)
def remove(suppression_id: int):
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and try again."))
    row = db.session.get(Suppression, suppression_id) or abort(404, _("Not on the list."))
    unsuppress(row.address)
    flash(_("%(address)s can be mailed again.", address=row.address))
    return redirect(url_for("suppressions.index"))
