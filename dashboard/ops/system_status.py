"""The live system panel: which workers answer and what they are doing, how many tasks wait in
each broker queue, when the beat jobs last ran (and whether they are late), the shared
rate-limit budget, and each SMTP account's health and budget. Every probe has a short timeout,
and the page asks for the panel only after its first paint."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from celery import Celery
from flask import current_app

from dashboard.sending.account import RateBudget, rate_budget
from dashboard.sending.accounts.health import AccountStatus, account_statuses
from dashboard.sending.broker_depths import queue_depths
from dashboard.sending.housekeeping import JobRun, last_runs
from dashboard.sending.queues import QUEUES

log = logging.getLogger(__name__)

INSPECT_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerActivity:
    name: str
    doing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SystemStatus:
    workers: list[WorkerActivity]
    queues: dict[str, int | None]
    rate_budget: RateBudget | None
    problem: str | None = None  # the broker could not be asked, and why
    # The broker carries no remote control (Amazon SQS): the workers cannot be asked at all.
    workers_unknowable: bool = False
    housekeeping: list[JobRun] | None = None  # None: their stamps could not be read
    # Each SMTP account's health (held or not, why) and budget: the default one first.
    accounts: list[AccountStatus] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return sum(n for n in self.queues.values() if n)


def rate_budget_left() -> RateBudget | None:
    """The shared rate limit's settings and today's use; None when no limit is configured."""
    return rate_budget(current_app.config)


def _describe(task: dict) -> str:
    args = task.get("args") or []
    name = str(task.get("name", "a task")).removeprefix("dashboard.")
    if name == "send_batch" and args and isinstance(args[0], list):
        return f"send_batch of {len(args[0])} messages"
    return name


def system_status(celery: Celery, *, timeout: float = INSPECT_TIMEOUT_SECONDS) -> SystemStatus:
    """Ask the broker and the workers, never waiting more than about `timeout` on each."""
    queues: dict[str, int | None] = {name: None for name in QUEUES}
    if not celery.conf.worker_enable_remote_control:
        return _without_remote_control(queues)
    try:
        queues.update(queue_depths(current_app.config, QUEUES))
        with celery.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            replies = celery.control.inspect(timeout=timeout, connection=connection).active()
    except Exception as error:
        log.warning("system panel: the broker did not answer: %s", error)
        return _status([], queues, problem=type(error).__name__)
    workers = [
        WorkerActivity(name, [_describe(task) for task in tasks or []])
        for name, tasks in sorted((replies or {}).items())
    ]
    return _status(workers, queues)


def _without_remote_control(queues: dict[str, int | None]) -> SystemStatus:
    """What can be known without asking the workers: the queues' depths and the budget."""
    try:
        queues.update(queue_depths(current_app.config, QUEUES))
    except Exception as error:
        log.warning("system panel: the broker did not answer: %s", error)
        return _status([], queues, problem=type(error).__name__, workers_unknowable=True)
    return _status([], queues, workers_unknowable=True)


def _status(
    workers: list[WorkerActivity],
    queues: dict[str, int | None],
    *,
    problem: str | None = None,
    workers_unknowable: bool = False,
) -> SystemStatus:
    """The panel with what needs no worker's answer read alongside: the rate budget, the beat
    jobs' last runs and each account's health."""
    return SystemStatus(
        workers,
        queues,
        rate_budget_left(),
        problem=problem,
        workers_unknowable=workers_unknowable,
        housekeeping=last_runs(current_app.config),
        accounts=account_statuses(current_app.config),
    )
