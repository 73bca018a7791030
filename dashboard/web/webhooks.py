"""The Webhooks page: register an endpoint (its signing secret shown once), see its events and
every attempt, replay, disable or enable it, delete it after a confirmation. Each person sees
only their own endpoints; the rules live in `webhooks/endpoints.py`."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.auth import SENDER, requires
from dashboard.models import WebhookEndpoint
from dashboard.web.forms import ActionForm, WebhookForm
from dashboard.webhooks.endpoints import (
    EndpointError,
    activity_of,
    create_endpoint,
    delete_endpoint,
    disabled_by_failures,
    endpoint_of,
    endpoints_of,
    replay,
    set_enabled,
)
from dashboard.webhooks.retention import retention_days

webhooks = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# The session names the endpoint whose secret the next page view shows, never the secret.
_SHOW_SECRET = "webhook_secret_for"
_NO_STORE = {"Cache-Control": "no-store"}


@webhooks.app_context_processor
def webhook_banner() -> dict[str, Any]:
    """Give base.html `webhook_notices()`: the signed-in person's endpoints disabled after a day
    of failures (called only by full pages, so a polled partial costs no look-up)."""

    def notices() -> list[WebhookEndpoint]:
        if not (current_user and current_user.is_authenticated):
            return []
        return disabled_by_failures(current_user)

    return {"webhook_notices": notices}


def _mine(endpoint_id: int) -> WebhookEndpoint:
    return endpoint_of(current_user, endpoint_id) or abort(404, _("There is no such webhook."))


def _checked_action() -> None:
    if not ActionForm().validate_on_submit():
        abort(400, _("This form has expired; reload the page and try again."))


@webhooks.route("/", methods=["GET", "POST"])
@requires(SENDER)
def index():
    form = WebhookForm()
    status = 200
    if form.validate_on_submit():
        try:
            created = create_endpoint(
                current_user,
                form.url.data,
                form.events.data,
                form.description.data,
                current_app.config,
            )
        except EndpointError as error:
            for name, text in error.errors.items():
                getattr(form, name).errors = [text]
            status = 422
        else:
            session[_SHOW_SECRET] = created.endpoint.id
            flash(_("Webhook added. Copy its signing secret now: it is shown only once."))
            return redirect(url_for("webhooks.endpoint", endpoint_id=created.endpoint.id))
    elif form.errors:
        status = 400
    return render_template(
        "webhooks.html", form=form, endpoints=endpoints_of(current_user), action=ActionForm()
    ), status


@webhooks.get("/<int:endpoint_id>")
@requires(SENDER)
def endpoint(endpoint_id: int):
    found = _mine(endpoint_id)
    secret = found.secret if session.pop(_SHOW_SECRET, None) == found.id else None
    page = render_template(
        "webhook.html",
        hook=found,
        activity=activity_of(found),
        retention_days=retention_days(current_app.config),
        secret=secret,
        action=ActionForm(),
    )
    return page, 200, _NO_STORE


@webhooks.post("/<int:endpoint_id>/disable")
@requires(SENDER)
def disable(endpoint_id: int):
    _checked_action()
    set_enabled(_mine(endpoint_id), False)
    flash(_("Webhook disabled: no event is written for it until you enable it again."))
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint_id))


@webhooks.post("/<int:endpoint_id>/enable")
@requires(SENDER)
def enable(endpoint_id: int):
    _checked_action()
    set_enabled(_mine(endpoint_id), True)
    flash(_("Webhook enabled: its waiting events go out now."))
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint_id))


@webhooks.route("/<int:endpoint_id>/delete", methods=["GET", "POST"])
@requires(SENDER)
def delete(endpoint_id: int):
    """GET asks for a confirmation; POST deletes, with its events and attempts."""
    found = _mine(endpoint_id)
    if request.method == "POST":
        _checked_action()
        delete_endpoint(found)
        flash(_("Webhook deleted."))
        return redirect(url_for("webhooks.index"))
    return render_template("webhook_delete.html", hook=found, action=ActionForm())


@webhooks.post("/<int:endpoint_id>/replay")
@requires(SENDER)
def replay_failed(endpoint_id: int):
    _checked_action()
    count = replay(_mine(endpoint_id), None, current_app.config)
    flash(_("%(count)s failed event(s) will be sent again.", count=count))
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint_id))


@webhooks.post("/<int:endpoint_id>/events/<int:delivery_id>/replay")
@requires(SENDER)
def replay_one(endpoint_id: int, delivery_id: int):
    _checked_action()
    count = replay(_mine(endpoint_id), delivery_id, current_app.config)
    flash(_("The event will be sent again.") if count else _("That event is still pending."))
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint_id))
