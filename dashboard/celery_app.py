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
    HOUSEKEEPING,
    PROBE_ACCOUNT,
    QUEUES,
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


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The periodic tasks: what is due goes out, what is stuck goes again (see tasks.py).

    They go on `housekeeping`, a queue with a worker of its own, so however busy the sending
    queues are they run; they never expire (an expired run is discarded with no more than a
    line in the worker's log). A run that piled up behind another returns at once
    (`sending.housekeeping`), and each run stamps when it last ran for the live panel.
    """
    jobs = {
        "dispatch-due": (DISPATCH_DUE, "DISPATCH_INTERVAL_SECONDS"),
        "sweep-stale": (SWEEP_STALE, "SWEEP_INTERVAL_SECONDS"),
        "probe-account": (PROBE_ACCOUNT, "ACCOUNT_PROBE_SECONDS"),
    }
    return {
        name: {"task": task, "schedule": float(config[period]), "options": {"queue": HOUSEKEEPING}}
        for name, (task, period) in jobs.items()
    }
