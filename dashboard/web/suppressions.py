"""The suppression list page: see it, add addresses by hand or from a CSV, take one off."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from dashboard.auth import SENDER, VIEWER, requires
from dashboard.campaigns.csv_reading import CsvFormatError
from dashboard.campaigns.suppression_csv import addresses_from_csv
from dashboard.extensions import db
from dashboard.mail.addresses import AddressError, split_address_list
from dashboard.mail.recipient_check import check_address
from dashboard.mail.sentences import N_
from dashboard.models import Suppression, SuppressionReason
from dashboard.sending.stored_texts import translated
from dashboard.sending.suppression import (
    recent_suppressions,
    suppress,
    suppression_count,
    unsuppress,
)
from dashboard.web.forms import ActionForm, SuppressionForm

suppressions = Blueprint("suppressions", __name__, url_prefix="/suppressions")
ROWS_SHOWN = 200
BAD_ENTRIES_SHOWN = 20  # per field
_ENTRY = N_("entry %(n)s: %(error)s")
_LINE = N_("line %(n)s of the file: %(error)s")


@suppressions.route("/", methods=["GET", "POST"])
@requires(GET=VIEWER, POST=SENDER)
def index():
    form = SuppressionForm()
    status = 200
    if form.validate_on_submit():
        typed = split_address_list(form.addresses.data or "")
        in_file: list[tuple[int, str]] = []
        upload = form.file.data
        try:
            if upload and upload.filename:
                in_file = addresses_from_csv(upload.read())
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
        else:
            added = suppress(addresses, SuppressionReason(form.reason.data))
            flash(
                _(
                    "%(added)s address(es) added; %(known)s were on the list already.",
                    added=added,
                    known=len(addresses) - added,
                )
            )
            return redirect(url_for("suppressions.index"))
    elif form.errors:
        status = 400
    rows = recent_suppressions(ROWS_SHOWN)
    return render_template(
        "suppressions.html",
        form=form,
        rows=rows,
        total=suppression_count(),
        action_form=ActionForm(),
        rows_shown=ROWS_SHOWN,
    ), status


@suppressions.post("/<int:suppression_id>/remove")
@requires(SENDER)
def remove(suppression_id: int):
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and try again."))
    row = db.session.get(Suppression, suppression_id) or abort(404, _("Not on the list."))
    unsuppress(row.address)
    flash(_("%(address)s can be mailed again.", address=row.address))
    return redirect(url_for("suppressions.index"))
