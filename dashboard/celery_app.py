"""Binding Celery to the Flask app, as in Flask's own Celery example."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask
from flask_babel import force_locale
from kombu import Exchange, Queue

from dashboard import tasks  # noqa: F401  (registers the shared tasks)
from dashboard.sending.batch_bounds import check_visibility_timeout
from dashboard.sending.queues import (
    DELIVER_WEBHOOKS,
    DISPATCH_DUE,
    HOUSEKEEPING,
    POLL_BOUNCES,
    PROBE_ACCOUNT,
    PRUNE_WEBHOOKS,
    QUEUES,
    REMOVE_DRAFTS,
    SWEEP_STALE,
)
from dashboard.signals import connect_signal_handlers


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app from `app.config["CELERY"]`; tasks run inside an app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            # What a worker writes (last replies, pause reasons) is stored in English and
            # translated when a page shows it, whatever the worker's LANG.
            with app.app_context(), force_locale("en"):
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


#: How often beat looks for drafts past DRAFT_MAX_AGE_HOURS, and for webhook events past
#: WEBHOOK_RETENTION_DAYS (a cheap query each when there is none).
DRAFT_SWEEP_SECONDS = 900.0


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
    schedule = {
        name: {"task": task, "schedule": float(config[period]), "options": {"queue": HOUSEKEEPING}}
        for name, (task, period) in jobs.items()
    }
    # Work that may wait on a remote server (webhook receivers, the bounce mailbox) or is slow
    # (deleting old drafts and old webhook events) runs beside the mail, not on `housekeeping`,
    # so that it never delays the dispatcher; a run no worker took before the next is dropped.
    webhooks = float(config["WEBHOOK_DELIVERY_INTERVAL_SECONDS"])
    schedule["deliver-webhooks"] = {
        "task": DELIVER_WEBHOOKS,
        "schedule": webhooks,
        "options": {"queue": "transactional", "expires": max(webhooks, 5.0)},
    }
    schedule["remove-abandoned-drafts"] = {
        "task": REMOVE_DRAFTS,
        "schedule": DRAFT_SWEEP_SECONDS,
        "options": {"queue": "bulk", "expires": DRAFT_SWEEP_SECONDS},
    }
    schedule["prune-webhook-events"] = {
        "task": PRUNE_WEBHOOKS,
        "schedule": DRAFT_SWEEP_SECONDS,
        "options": {"queue": "bulk", "expires": DRAFT_SWEEP_SECONDS},
    }
    if config.get("BOUNCE_IMAP_HOST"):  # the bounce mailbox, read when one is set
        poll = float(config["BOUNCE_IMAP_INTERVAL_SECONDS"])
        schedule["poll-bounces"] = {
            "task": POLL_BOUNCES,
            "schedule": poll,
            "options": {"queue": "transactional", "expires": max(poll, 5.0)},
        }
    return schedule
