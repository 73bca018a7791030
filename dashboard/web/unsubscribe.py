"""One-click unsubscribe (RFC 8058): a signed link per recipient whose POST suppresses the
address. The signature (from SECRET_KEY) is the authority, so the endpoint needs no session and
no CSRF token: mail providers post to it directly with `List-Unsubscribe=One-Click`."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _

from dashboard.auth import public
from dashboard.extensions import csrf
from dashboard.sending.suppression import suppressed_among, unsubscribe_recipient
from dashboard.sending.unsubscribe_links import read_unsubscribe_token

unsubscribe = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")


def _address_from(token: str) -> tuple[str, int]:
    try:
        return read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    except ValueError:
        abort(404, _("This unsubscribe link is not valid. Copy the whole link from the email."))


# Recipients carry no login and no CSRF token: the signed token in the URL is the authority.
@unsubscribe.route("/<token>", methods=["GET", "POST"])
@public
@csrf.exempt
def one_click(token: str):
    """GET shows a button (link scanners must not unsubscribe anyone); POST unsubscribes."""
    address, campaign_id = _address_from(token)
    if request.method == "POST":
        unsubscribe_recipient(address, campaign_id)  # with its webhook event
        return render_template("unsubscribed.html", address=address)
    done = bool(suppressed_among([address]))
    return render_template("unsubscribe.html", address=address, token=token, done=done)
