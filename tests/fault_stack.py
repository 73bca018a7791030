"""A whole dispatcher a fault test may break: its own redis-server on a free port (so it can be
stopped and wiped), its own SQLite database, Celery workers and beat as real processes, and a
scripted aiosmtpd server. Every process is ours and is stopped at the end, by its own id.

The broker is that redis-server, or a RabbitMQ vhost of the test's own when `broker_url` is
given (`TEST_BROKER=rabbitmq`); results and the shared rate limit stay on the test's Redis."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, make_url, select

from dashboard import create_app
from dashboard.auth import ADMIN
from dashboard.auth.accounts import create_user
from dashboard.auth.tokens import create_token
from dashboard.config import celery_settings, engine_options
from dashboard.extensions import db
from dashboard.models import FINAL_STATUSES, DeliveryAttempt, Message
from dashboard.ops.local_stack import beat_command, loopback_settings, process_env, worker_command
from dashboard.sending.queues import QUEUES
from tests import engines
from tests.smtp_server import ScriptedSMTPServer, free_port

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 60

# Faults are struck mid-send: short timeouts, many retries, a quick sweeper, and no rate limit
# or failure pause to slow the recovery down.
QUICK = {
    "MAIL_TIMEOUT": "5",
    "MAIL_BATCH_SIZE": "50",
    "MAIL_MAX_RETRIES": "10",
    "MAIL_RETRY_BASE_SECONDS": "0.2",
    "MAIL_RETRY_MAX_SECONDS": "1",
    "DISPATCH_INTERVAL_SECONDS": "0.5",
    "SWEEP_INTERVAL_SECONDS": "1",
    "STALE_QUEUED_SECONDS": "5",
    "LEASE_SECONDS": "8",
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "RATE_LIMIT_PER_SECOND": "0",
    "RATE_LIMIT_PER_DAY": "0",
    "FAILURE_PAUSE_PERCENT": "0",
    "ACCOUNT_PROBE_SECONDS": "1",
}
# The settings a user gets (config.py's defaults), but for the rate limits, set by each test.
SHIPPED = {"RATE_LIMIT_PER_SECOND": "0", "RATE_LIMIT_PER_DAY": "0"}


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    """Signal the process group we started (the worker and its pool children) and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class FaultStack:
    root: Path
    smtp: ScriptedSMTPServer
    overrides: dict[str, str] = field(default_factory=dict)
    broker_url: str | None = None  # None: the test's own redis-server is the broker too
    database_url: str | None = None  # None: a SQLite file of the test's own
    redis_port: int = field(default_factory=free_port)
    redis_process: subprocess.Popen | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)
    apps: list[Flask] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    # True: the recovery timers a user gets (lease, sweep, visibility timeout, retries), only
    # the rate limits and the failure pause set by the test.
    shipped: bool = False

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def broker(self) -> str:
        """Which broker carries the tasks: "redis", "rabbitmq" or "sqs"."""
        if self.broker_url is None:
            return "redis"
        return "sqs" if self.broker_url.startswith("sqs://") else "rabbitmq"

    @property
    def database(self) -> str:
        """Which database holds the rows: "sqlite" or "postgresql"."""
        return "sqlite" if self.database_url is None else "postgresql"

    @property
    def settings(self) -> dict[str, str]:
        return {
            **loopback_settings(
                instance_dir=self.root,
                database_url=self.database_url or f"sqlite:///{self.root / 'fault.db'}",
                broker_url=self.broker_url or self.redis_url,
                redis_url=self.redis_url,
                mail_port=self.smtp.port,
                secret_key="fault-test-key",
            ),
            **(SHIPPED if self.shipped else QUICK),
            **self.overrides,
        }

    def env(self) -> dict[str, str]:
        return process_env(self.settings)

    # --- Redis ---------------------------------------------------------------------------------
    def start_redis(self) -> None:
        """A fresh, empty redis-server (no persistence: stopping it wipes its data)."""
        binary = shutil.which("redis-server")
        assert binary, "the fault tests need the system's redis-server"
        self.redis_process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(port=self.redis_port, socket_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("the fault test's redis-server did not start")
                time.sleep(0.05)

    def stop_redis(self) -> None:
        assert self.redis_process is not None
        _stop(self.redis_process)
        self.redis_process = None

    # --- Database and app ---------------------------------------------------------------------
    def migrate(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr

    def app(self) -> Flask:
        settings = self.settings
        config: dict[str, Any] = {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(settings["DATABASE_URL"]),
            "CELERY": celery_settings(settings["CELERY_BROKER_URL"], self.redis_url, settings),
            # What the processes note there (published tasks, beat stamps) the app reads too.
            "REDIS_URL": self.redis_url,
        }
        for name, value in settings.items():
            if name.startswith(
                (
                    "MAIL_",
                    "RATE_",
                    "STALE_",
                    "LEASE_",
                    "FAILURE_",
                    "DISPATCH_",
                    "SWEEP_",
                    "ACCOUNT_",
                    "BULK_",
                )
            ):
                config[name] = value
        for name in ("MAIL_PORT", "MAIL_BATCH_SIZE", "MAIL_MAX_RETRIES", "RATE_LIMIT_PER_DAY"):
            if name in settings:
                config[name] = int(settings[name])
        for name in (
            "RATE_LIMIT_PER_SECOND",
            "FAILURE_PAUSE_PERCENT",
            "STALE_QUEUED_SECONDS",
            "LEASE_SECONDS",
            "MAIL_TIMEOUT",
            "ACCOUNT_PROBE_SECONDS",
        ):
            if name in settings:
                config[name] = float(settings[name])
        config["MAIL_USE_TLS"] = config["MAIL_USE_SSL"] = False
        app = create_app(config)
        self.apps.append(app)
        return app

    # --- Celery processes ---------------------------------------------------------------------
    def _spawn(
        self,
        name: str,
        argv: list[str],
        ready: bytes,
        *,
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen:
        """Start `argv` with the stack's settings (and `env` over them), logging to a file."""
        log_path = self.root / f"{name}-{len(self.processes)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env(), **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        self.logs[process.pid] = log_path
        process.ready_marker = ready  # type: ignore[attr-defined]
        if wait:
            self.wait_ready(process)
        return process

    def wait_ready(self, process: subprocess.Popen) -> None:
        log_path = self.logs[process.pid]
        deadline = time.monotonic() + READY_SECONDS
        while process.ready_marker not in log_path.read_bytes():  # type: ignore[attr-defined]
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{log_path.name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def start_worker(
        self,
        name: str = "worker",
        concurrency: int = 2,
        *,
        wait: bool = True,
        queues: Sequence[str] = QUEUES,
    ) -> subprocess.Popen:
        return self._spawn(
            name,
            worker_command(
                concurrency=concurrency,
                queues=queues,
                hostname=f"{name}-{len(self.processes)}-{os.getpid()}@%h",
                mingle_and_gossip=False,
            ),
            b" ready.",
            wait=wait,
        )

    def start_beat(self, *, wait: bool = True) -> subprocess.Popen:
        return self._spawn(
            "beat",
            beat_command(schedule=self.root / "beat-schedule"),
            b"beat: Starting",
            wait=wait,
        )

    def kill(self, process: subprocess.Popen) -> None:
        """kill -9 the process and its pool children: nothing gets to clean up."""
        _stop(process, signal.SIGKILL, wait=10)

    def pool_processes(self, worker: subprocess.Popen) -> list[int]:
        """The pids of a prefork worker's pool processes (its children)."""
        result = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, timeout=10
        )
        return [int(pid) for pid in result.stdout.split()]

    def pool_process_sending(self, worker: subprocess.Popen, timeout: float = 30) -> int:
        """The pid of a pool process that holds an open SMTP connection to the test's server,
        that is, one in the middle of a batch: killing an idle one would orphan nothing."""
        deadline = time.monotonic() + timeout
        while True:
            connected = _sockets_connected_to(self.smtp.port)
            for pid in self.pool_processes(worker):
                if _socket_inodes(pid) & connected:
                    return pid
            if time.monotonic() > deadline:
                pytest.fail(f"no pool process was sending within {timeout} s\n{self.log_tail()}")
            time.sleep(0.01)

    def terminate(self, process: subprocess.Popen) -> None:
        _stop(process)

    def close(self) -> None:
        for process in reversed(self.processes):
            _stop(process, wait=15)
        if self.redis_process is not None:
            self.stop_redis()
        for app in self.apps:  # close the pools now, not when the collector finds them
            with app.app_context():
                db.engine.dispose()

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for path in self.logs.values()
        )


def status_counts(app: Flask) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(select(Message.status, func.count()).group_by(Message.status))
        counts = Counter({status: count for status, count in rows})
        db.session.rollback()
        return counts


def wait_all_final(stack: FaultStack, app: Flask, total: int, timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        counts = status_counts(app)
        if sum(counts[s] for s in FINAL_STATUSES) == total:
            return counts
        if time.monotonic() > deadline:
            pytest.fail(f"not final after {timeout:.0f}s: {dict(counts)}\n{stack.log_tail()}")
        time.sleep(0.25)


def _sockets_connected_to(port: int) -> set[str]:
    """Inodes of the established TCP sockets (IPv4 and IPv6) whose remote port is `port`."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[3] == "01":  # 01: ESTABLISHED
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    with contextlib.suppress(OSError):  # the process may end while we look
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def wait_for(stack: FaultStack, app: Flask, predicate, timeout: float, what: str) -> Counter:
    deadline = time.monotonic() + timeout
    while True:
        counts = status_counts(app)
        if predicate(counts):
            return counts
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: {dict(counts)}\n{stack.log_tail()}")
        time.sleep(0.05)


@dataclass(frozen=True)
class FaultReport:
    """One run's tally, printed for the README table: every message final, none lost."""

    name: str
    database: str
    broker: str
    messages: int
    lost: int
    duplicates: int
    in_flight: int
    seconds: float
    detail: str = ""
    recovery: float | None = None  # seconds from the fault's end to every message final

    def save(self) -> None:
        """Add this run to the JSON lines file FAULT_REPORT names, if it names one: the docs'
        fault table is made from it (scripts/fault_table.py)."""
        path = os.environ.get("FAULT_REPORT")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(self), ensure_ascii=False) + "\n")

    def line(self) -> str:
        return (
            f"FAULT | {self.database}+{self.broker} | {self.name} | messages={self.messages} | "
            f"lost={self.lost} | "
            f"duplicates={self.duplicates} | in_flight={self.in_flight} | "
            f"time={self.seconds:.1f}s | recovery="
            f"{'-' if self.recovery is None else f'{self.recovery:.1f}s'} | {self.detail}"
        )


def tally(
    name: str,
    stack: FaultStack,
    app: Flask,
    *,
    in_flight: int,
    detail: str = "",
    recovery: float | None = None,
) -> FaultReport:
    """Count, against what the SMTP server received, lost messages (a row not `sent`, or sent
    but never received) and duplicates (copies received beyond the first)."""
    with app.app_context():
        rows = db.session.execute(select(Message.to_address, Message.status)).all()
        db.session.rollback()
    received = Counter(address for r in stack.smtp.received for address in r.rcpt_tos)
    lost = sum(1 for address, status in rows if _is_lost(status, received[address]))
    if lost:
        print(_lost_story(app, received), stack.log_tail(), sep="\n", flush=True)
    duplicates = sum(max(0, received[address] - 1) for address, _ in rows)
    report = FaultReport(
        name,
        stack.database,
        stack.broker,
        len(rows),
        lost,
        duplicates,
        in_flight,
        time.monotonic() - stack.started_at,
        detail,
        recovery,
    )
    print(report.line(), flush=True)
    report.save()
    return report


def _is_lost(status: str, copies: int) -> bool:
    """A message is lost when its row does not say `sent` or the server never received it."""
    return status != "sent" or copies == 0


#: Lost messages told in full by a failing fault run; the rest are only counted.
LOST_TOLD = 20


def _lost_story(app: Flask, received: Counter) -> str:
    """The first lost messages' rows and attempts, for the failure's output: what each ended
    as, and how it got there."""
    lines = ["lost messages (row; then its attempts):"]
    told = 0
    with app.app_context():
        for message in db.session.scalars(select(Message).order_by(Message.id)):
            if not _is_lost(message.status, received[message.to_address]):
                continue
            told += 1
            if told > LOST_TOLD:
                continue
            lines.append(
                f"  #{message.id} {message.to_address} {message.status} received="
                f"{received[message.to_address]} attempts={message.attempts} "
                f"stale_resends={message.stale_resends} last={message.last_code} "
                f"{message.last_reply!r} task={message.task_id}"
            )
            for attempt in db.session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.message_id == message.id)
                .order_by(DeliveryAttempt.id)
            ):
                lines.append(
                    f"    {attempt.finished_at:%H:%M:%S.%f} {attempt.outcome} "
                    f"{attempt.smtp_code} {attempt.smtp_reply!r} by {attempt.worker} "
                    f"task={attempt.task_id}"
                )
        db.session.rollback()
    if told > LOST_TOLD:
        lines.append(f"  ... and {told - LOST_TOLD} more")
    return "\n".join(lines)


@contextlib.contextmanager
def own_stacks(tmp_path: Path, tag: str) -> Iterator[Callable[..., FaultStack]]:
    """Make whole dispatchers of a test's own on the session's engines (a database and a vhost
    each), sending to the given SMTP server (started by the test); all stopped at the end."""
    stacks: list[FaultStack] = []
    with contextlib.ExitStack() as resources:

        def make(smtp: ScriptedSMTPServer, **overrides: str) -> FaultStack:
            broker_url = database_url = None
            if engines.TEST_BROKER == "rabbitmq":
                name = f"{engines.session_name(f'dispatcher-{tag}')}-{len(stacks)}"
                broker_url = resources.enter_context(engines.rabbitmq_vhost(name))
            if engines.TEST_DATABASE == "postgresql":
                name = f"{engines.session_name(f'dispatcher_{tag}')}_{len(stacks)}"
                database_url = resources.enter_context(engines.postgres_database(name))
            stack = FaultStack(tmp_path, smtp, overrides, broker_url, database_url)
            stacks.append(stack)
            stack.start_redis()
            stack.migrate()
            return stack

        try:
            yield make
        finally:
            for stack in stacks:  # processes first: no worker stays on a vhost being deleted
                stack.close()
                with contextlib.suppress(Exception):
                    stack.smtp.stop()


def signed_in(app: Flask) -> FlaskClient:
    """A test client signed in as a new admin (session, and an API token as Bearer)."""
    with app.app_context():
        user = create_user("stack-admin@example.com", "correct horse battery", role=ADMIN)
        session_id, token = user.get_id(), create_token(user, "tests").secret
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


@contextlib.contextmanager
def database_away(stack: FaultStack, seconds: float) -> Iterator[None]:
    """Take the stack's database away for `seconds`, then give it back (on leaving the block,
    not before the time is up). PostgreSQL refuses new connections and its open ones are ended
    (`ALLOW_CONNECTIONS false`, `pg_terminate_backend`); SQLite is locked by another connection
    holding a write transaction past the workers' 30 s busy timeout, so their writes fail."""
    if stack.database_url is None:
        path = stack.root / "fault.db"
        locked = threading.Event()

        def hold() -> None:
            with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as c:
                c.execute("BEGIN IMMEDIATE")
                locked.set()
                time.sleep(seconds)
                c.execute("COMMIT")

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert locked.wait(35), "could not take SQLite's write lock"
        try:
            yield
        finally:
            holder.join(seconds + 40)
        return
    name = make_url(stack.database_url).database
    with contextlib.closing(engines.admin_connection()) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        ended_at = time.monotonic() + seconds
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
            time.sleep(max(0.0, ended_at - time.monotonic()))
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
