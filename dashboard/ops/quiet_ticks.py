"""Celery's lines for each run of a periodic job (beat's "Sending due task", the worker's
"received" and "succeeded" for the dispatcher, the sweeper, the account probe) are kept for
DEBUG: at INFO they would bury what matters under three lines every two seconds. What those
jobs log themselves (messages dispatched, rows swept) and every warning or error still shows.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger


class PeriodicTickFilter(logging.Filter):
    """Drops Celery's INFO lines about the periodic tasks unless the root logger is at DEBUG."""

    def __init__(self, task_names: set[str]) -> None:
        super().__init__()
        self.task_names = frozenset(task_names)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery"):
            return True
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        text = record.getMessage()
        return not any(name in text for name in self.task_names)


def quiet_periodic_ticks(celery_app: Celery) -> None:
    """Install the filter on the handlers Celery sets up (worker and beat alike)."""
    names = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    tick_filter = PeriodicTickFilter(names)

    def install(logger: logging.Logger, **_: Any) -> None:
        for handler in logger.handlers:
            handler.addFilter(tick_filter)

    after_setup_logger.connect(install, weak=False)
