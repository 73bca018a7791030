"""Providers' bounce and complaint notifications: Amazon SES through SNS, posted to
`/bounces/ses`. SNS carries no login and no CSRF token: its signature, checked against
Amazon's certificate, is the authority (dashboard/bounces/ses.py). Off unless SES_SNS_ENABLED.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask_babel import gettext as _

from dashboard.auth import public
from dashboard.bounces.ses import MAX_NOTIFICATION_BYTES, SnsRejected, handle_sns
from dashboard.extensions import csrf

bounce_notifications = Blueprint("bounce_notifications", __name__, url_prefix="/bounces")


@bounce_notifications.post("/ses")
@public
@csrf.exempt
def ses():
    """Take one SNS message: confirm a subscription, or record a bounce or complaint."""
    if not current_app.config.get("SES_SNS_ENABLED"):
        abort(404)
    if (request.content_length or 0) > MAX_NOTIFICATION_BYTES:
        return jsonify(error=_("The notification is larger than SNS sends.")), 413
    body = request.get_data(cache=False)
    try:
        outcome = handle_sns(body, current_app.config)
    except SnsRejected as rejected:
        current_app.logger.warning("SNS notification refused: %s", rejected)
        return jsonify(error=_("Not a valid SNS message: %(reason)s", reason=str(rejected))), 400
    return jsonify(outcome=outcome.kind, detail=outcome.detail), 200
