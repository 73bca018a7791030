"""One-click unsubscribe (RFC 8058): a signed link per recipient whose POST suppresses the
address. The signature (from SECRET_KEY) is the authority, so the endpoint needs no session and
no CSRF token: mail providers post to it directly with `List-Unsubscribe=One-Click`."""

from __future__ import annotations

import base64

from flask import Blueprint, abort, current_app, render_template, request
from itsdangerous import BadSignature, Signer

from dashboard.auth import public
from dashboard.extensions import csrf
from dashboard.mail.recipient_check import check_address
from dashboard.models import SuppressionReason
from dashboard.suppression import suppress, suppressed_among

unsubscribe = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")
_SALT = "list-unsubscribe"


def unsubscribe_serializer(secret_key: str) -> Signer:
    return Signer(secret_key, salt=_SALT)


def unsubscribe_url(base_url: str, signer: Signer, address: str, campaign_id: int) -> str:
    """The absolute link for one recipient of one campaign (usable by workers, no request)."""
    value = base64.urlsafe_b64encode(f"{campaign_id}:{address}".encode()).rstrip(b"=")
    return f"{base_url.rstrip('/')}/unsubscribe/{signer.sign(value).decode('ascii')}"


def _address_from(token: str) -> tuple[str, int]:
    try:
        value = unsubscribe_serializer(current_app.config["SECRET_KEY"]).unsign(token)
        decoded = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4)).decode()
        campaign_id, _, address = decoded.partition(":")
        return check_address(address), int(campaign_id)
    except (BadSignature, ValueError, TypeError, UnicodeDecodeError):
        abort(404, "This unsubscribe link is not valid. Copy the whole link from the email.")


# Recipients carry no login and no CSRF token: the signed token in the URL is the authority.
@unsubscribe.route("/<token>", methods=["GET", "POST"])
@public
@csrf.exempt
def one_click(token: str):
    """GET shows a button (link scanners must not unsubscribe anyone); POST unsubscribes."""
    address, campaign_id = _address_from(token)
    if request.method == "POST":
        suppress(
            [address], SuppressionReason.UNSUBSCRIBED, note=f"one-click, campaign {campaign_id}"
        )
        return render_template("unsubscribed.html", address=address)
    done = bool(suppressed_among([address]))
    return render_template("unsubscribe.html", address=address, token=token, done=done)
