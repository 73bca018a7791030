"""Binding Celery to the Flask app, as in Flask's own Celery example."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu import Exchange, Queue

from dashboard import tasks  # noqa: F401  (registers the shared tasks)
from dashboard.sending.queues import (
    DISPATCH_DUE,
    PROBE_ACCOUNT,
    QUEUES,
    REMOVE_DRAFTS,
    SWEEP_STALE,
)
from dashboard.signals import connect_signal_handlers


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app from `app.config["CELERY"]`; tasks run inside an app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUES]
    celery_app.conf.beat_schedule = beat_schedule(app.config)
    celery_app.set_default()
    celery_app.flask_app = app  # signal handlers push this app's context
    app.extensions["celery"] = celery_app
    connect_signal_handlers()
    return celery_app


#: How often beat looks for drafts past DRAFT_MAX_AGE_HOURS (a cheap query when there is none).
DRAFT_SWEEP_SECONDS = 900.0


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The periodic tasks: what is due goes out, what is stuck goes again (see tasks.py).

    Each run expires if no worker took it before the next one, so a busy or stopped worker
    does not find a pile of them waiting.
    """
    dispatch = float(config["DISPATCH_INTERVAL_SECONDS"])
    sweep = float(config["SWEEP_INTERVAL_SECONDS"])
    probe = float(config["ACCOUNT_PROBE_SECONDS"])
    return {
        "dispatch-due": {
            "task": DISPATCH_DUE,
            "schedule": dispatch,
            "options": {"queue": "transactional", "expires": max(dispatch * 3, 5.0)},
        },
        "sweep-stale": {
            "task": SWEEP_STALE,
            "schedule": sweep,
            "options": {"queue": "transactional", "expires": max(sweep, 5.0)},
        },
        "remove-abandoned-drafts": {
            "task": REMOVE_DRAFTS,
            "schedule": DRAFT_SWEEP_SECONDS,
            "options": {"queue": "bulk", "expires": DRAFT_SWEEP_SECONDS},
        },
        "probe-account": {
            "task": PROBE_ACCOUNT,
            "schedule": probe,
            "options": {"queue": "transactional", "expires": max(probe, 5.0)},
        },
    }
