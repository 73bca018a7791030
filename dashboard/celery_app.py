"""Binding Celery to the Flask app, as in Flask's own Celery example."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu import Exchange, Queue

from dashboard import tasks  # noqa: F401  (registers the shared tasks)
from dashboard.sending.batch_bounds import check_visibility_timeout
from dashboard.sending.queues import (
    DELIVER_WEBHOOKS,
    DISPATCH_DUE,
    POLL_BOUNCES,
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

    check_broker_settings(app.config)
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUES]
    celery_app.conf.beat_schedule = beat_schedule(app.config)
    celery_app.set_default()
    celery_app.flask_app = app  # signal handlers push this app's context
    app.extensions["celery"] = celery_app
    connect_signal_handlers()
    return celery_app


def check_broker_settings(config: Mapping[str, Any]) -> None:
    """Refuse at start what would make the broker misbehave later: a visibility timeout shorter
    than a batch (see sending/batch_bounds.py), or SQS queues given by URL that leave out one of
    the project's queues (Kombu would refuse to publish to it only when a task is sent)."""
    check_visibility_timeout(config)
    options = config["CELERY"].get("broker_transport_options", {})
    predefined = options.get("predefined_queues")
    if predefined:
        prefix = options.get("queue_name_prefix", "")
        missing = [name for name in QUEUES if prefix + name not in predefined]
        if missing:
            raise ValueError(
                f"SQS_PREDEFINED_QUEUES names no URL for the queue(s) {', '.join(missing)}: "
                f"every one of {', '.join(QUEUES)} needs one"
            )


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
    webhooks = float(config["WEBHOOK_DELIVERY_INTERVAL_SECONDS"])
    schedule = {
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
        "deliver-webhooks": {
            "task": DELIVER_WEBHOOKS,
            "schedule": webhooks,
            "options": {"queue": "transactional", "expires": max(webhooks, 5.0)},
        },
    }
    if config.get("BOUNCE_IMAP_HOST"):  # the bounce mailbox, read when one is set
        poll = float(config["BOUNCE_IMAP_INTERVAL_SECONDS"])
        schedule["poll-bounces"] = {
            "task": POLL_BOUNCES,
            "schedule": poll,
            "options": {"queue": "transactional", "expires": max(poll, 5.0)},
        }
    return schedule
