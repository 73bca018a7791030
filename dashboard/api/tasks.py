"""`GET /api/v1/tasks/<celery_task_id>`: a Celery task's state and the messages it carries."""

from __future__ import annotations

import logging

from celery.result import AsyncResult
from flask import current_app, jsonify
from flask_babel import gettext as _
from flask_login import current_user

from dashboard.api.blueprint import api
from dashboard.api.serialize import message_out
from dashboard.auth import VIEWER, requires
from dashboard.auth.ownership import check_messages_readable
from dashboard.errors import api_error
from dashboard.reporting.history import messages_of_task

log = logging.getLogger(__name__)


@api.get("/tasks/<task_id>")
@requires(VIEWER)
def get_task(task_id: str):
    if "\0" in task_id:  # no task id holds a NUL, and PostgreSQL refuses one as a parameter
        return api_error(404, _("There is no task with id %(id)s.", id=repr(task_id)))
    messages = messages_of_task(task_id)
    if not messages:
        return api_error(404, _("There is no task with id %(id)s.", id=repr(task_id)))
    check_messages_readable(current_user, messages)
    state, result = "UNKNOWN", None
    try:
        outcome = AsyncResult(task_id, app=current_app.extensions["celery"])
        state = outcome.state
        if outcome.successful() and isinstance(outcome.result, dict):
            result = outcome.result
    except Exception as error:  # the result backend being down must not hide the rows
        log.warning("result backend unavailable for task %s: %s", task_id, error)
    return jsonify(
        {
            "task_id": task_id,
            "state": state,
            "result": result,
            "messages": [message_out(m) for m in messages],
        }
    )
