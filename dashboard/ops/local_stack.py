"""How the project's processes are started on one machine: the environment they get and the
Celery command lines. `run.py` (`make run`), the tests and the benchmarks all start workers,
beat and Flower through here, so they start them the same way.

Nothing here imports Flask or pytest: a benchmark can use it without the test fixtures.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dashboard.sending.queues import QUEUES

CELERY_APP = "celery_worker"  # the entry module: `celery -A celery_worker ...`
# The web tier's gunicorn options, as the Dockerfile, docker-compose.yml and the Kubernetes
# manifest give them too (tests/test_deployment_files.py holds them to it); what
# bench/api_intake.py measures.
WEB_GUNICORN_OPTIONS = ("--workers", "2", "--threads", "4")


@dataclass(frozen=True)
class WorkerLane:
    """One Celery worker of the default set-up: its node name, the queues it serves, and how
    many processes it runs."""

    name: str
    queues: tuple[str, ...]
    concurrency: int


#: The workers `make run` starts (docker-compose.yml and deploy/kubernetes have the same three):
#: the API's own mail has processes that a campaign cannot occupy, however long its batches wait
#: for the rate limit; the beat jobs (dispatching, sweeping, probing the account) have a process
#: of their own that no sending can occupy. Campaigns get two processes: a third one keeps the
#: two cores busier but costs more CPU a message than it fills (docs/benchmarks.md, "CSV
#: campaigns").
DEFAULT_LANES = (
    WorkerLane("transactional", ("transactional",), 2),
    WorkerLane("bulk", ("bulk",), 2),
    WorkerLane("housekeeping", ("housekeeping",), 1),
)


def process_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with `settings` on top, as the web app, the workers, beat
    and the `flask` CLI are started with."""
    return {**os.environ, **settings, "FLASK_APP": "wsgi", "PYTHONUNBUFFERED": "1"}


def loopback_settings(
    *,
    instance_dir: Path,
    database_url: str,
    broker_url: str,
    redis_url: str,
    mail_port: int,
    secret_key: str,
) -> dict[str, str]:
    """The settings that wire a whole dispatcher together on this machine: its database, its
    broker, one Redis for task results, logins and the rate limit, and an SMTP server on
    loopback with no login and no TLS. The tests and the benchmarks add their own tuning."""
    return {
        "INSTANCE_DIR": str(instance_dir),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "REDIS_URL": redis_url,
        "RATE_LIMIT_REDIS_URL": redis_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mail_port),
        # Set even when empty: a developer's .env must not give a loopback server a login.
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": "false",
        "MAIL_USE_SSL": "false",
        "MAIL_DEFAULT_SENDER": "Hệ thống Gửi thư <dispatcher@example.com>",
        "SECRET_KEY": secret_key,
    }


def celery_command(*args: str, app: str = CELERY_APP) -> list[str]:
    """`celery -A <app> <args>`, run by this interpreter (the venv's celery)."""
    return [sys.executable, "-m", "celery", "-A", app, *args]


def worker_command(
    *,
    concurrency: int = 2,
    queues: Sequence[str] = QUEUES,
    hostname: str | None = None,
    loglevel: str = "info",
    pool: str = "prefork",
    beat: bool = False,
    mingle_and_gossip: bool = True,
    app: str = CELERY_APP,
) -> list[str]:
    """A Celery worker's command line. `hostname` is the node name (`name@%h`; Celery's own
    default when None); `beat` runs the beat inside this worker. The tests and benchmarks turn
    off `mingle_and_gossip`, which the project does not rely on (the dashboard asks workers by
    `inspect`) and which make a worker wait for its peers' answers at start."""
    return celery_command(
        "worker",
        "--loglevel",
        loglevel,
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "--queues",
        ",".join(queues),
        *(["--hostname", hostname] if hostname else []),
        *([] if mingle_and_gossip else ["--without-mingle", "--without-gossip"]),
        *(["--beat"] if beat else []),
        app=app,
    )


def beat_command(*, loglevel: str = "info", schedule: Path | None = None) -> list[str]:
    """Celery beat's command line (exactly one beat per deployment); `schedule` is its state
    file, Celery's default (in the working directory) when None."""
    return celery_command(
        "beat", "--loglevel", loglevel, *(["--schedule", str(schedule)] if schedule else [])
    )
