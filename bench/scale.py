"""How throughput grows with worker processes: one campaign, sent by 1, 2 and 4 Celery worker
processes, with Redis and with RabbitMQ as the broker, with SQLite and with PostgreSQL as the
database, to a fast local SMTP sink. Prints msgs/s for each, side by side.

    .venv/bin/python bench/scale.py                    # 100,000 messages per run (the issue's)
    .venv/bin/python bench/scale.py --messages 10000   # what the README's figures used

Everything it starts is its own and on loopback: a redis-server on a free port in a temporary
folder, a RabbitMQ vhost and a PostgreSQL database named after its pid (both dropped after),
and Postfix's `smtp-sink` (or an aiosmtpd sink when smtp-sink is missing). It needs the
machine's PostgreSQL and RabbitMQ for those columns (`--databases sqlite --brokers redis`
runs without them). The campaign goes in through `submit_email`, exactly as the API's does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
SMTP_SINK = "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


@contextmanager
def process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("ab") as out:
        child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


@contextmanager
def smtp_sink(workdir: Path) -> Iterator[tuple[int, str]]:
    """A sink that answers 250 to everything and keeps nothing."""
    port = free_port()
    if Path(SMTP_SINK).exists():
        argv = [SMTP_SINK, "-u", "nobody", f"127.0.0.1:{port}", "256"]
        name = "Postfix smtp-sink"
    else:
        code = (
            "import sys, threading; from aiosmtpd.controller import Controller\n"
            "class Sink:\n"
            "    async def handle_DATA(self, server, session, envelope):\n"
            "        return '250 2.0.0 Ok'\n"
            "c = Controller(Sink(), hostname='127.0.0.1', port=int(sys.argv[1])); c.start()\n"
            "threading.Event().wait()\n"
        )
        argv = [sys.executable, "-c", code, str(port)]
        name = "aiosmtpd sink"
    with process(argv, workdir / "smtp-sink.log"):
        wait_for_port(port, name)
        yield port, name


@contextmanager
def own_redis(workdir: Path) -> Iterator[str]:
    """A private redis-server, so the bench never touches anyone else's Redis db."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed (apt-get install redis-server)")
    port = free_port()
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir)]
    with process(argv, workdir / "redis.log"):
        wait_for_port(port, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    name = f"dispatcher-bench-{os.getpid()}"
    parts = urlsplit(RABBITMQ_URL)
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, parts.username or "guest", ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        rabbitmqctl("delete_vhost", name)


@contextmanager
def fresh_database(kind: str, workdir: Path, run: str) -> Iterator[str]:
    if kind == "sqlite":
        path = workdir / f"{run}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql")
    name = f"dispatcher_bench_{os.getpid()}"

    def admin(statement: sql.Composable) -> None:
        with psycopg.connect(
            admin_url.render_as_string(hide_password=False), autocommit=True
        ) as connection:
            connection.execute(statement)

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    admin(drop)
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin(drop)


@dataclass(frozen=True)
class Outcome:
    database: str
    broker: str
    workers: int
    messages: int
    submit_seconds: float
    total_seconds: float
    sent: int

    @property
    def rate(self) -> float:
        return self.messages / self.total_seconds


def run_once(
    database: str,
    broker: str,
    broker_url: str,
    results_url: str,
    workers: int,
    args: argparse.Namespace,
    sink_port: int,
    workdir: Path,
) -> Outcome:
    run = f"{database}-{broker}-{workers}"
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database(database, workdir, run))
        settings = {
            "INSTANCE_DIR": str(workdir),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": results_url,
            "REDIS_URL": results_url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink_port),
            "MAIL_USERNAME": "",
            "MAIL_PASSWORD": "",
            "MAIL_USE_TLS": "false",
            "MAIL_USE_SSL": "false",
            "MAIL_BATCH_SIZE": str(args.batch_size),
            "MAX_RECIPIENTS_PER_REQUEST": str(args.messages),
            "SECRET_KEY": "bench",
        }
        env = {**os.environ, **settings, "FLASK_APP": "wsgi", "PYTHONUNBUFFERED": "1"}
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        logs = []
        for number in range(1, workers + 1):
            log = workdir / f"{run}-worker{number}.log"
            logs.append(log)
            stack.enter_context(
                process(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "celery_worker",
                        "worker",
                        "--loglevel",
                        "info",  # as in production: a log line per attempt
                        "--concurrency",
                        str(args.concurrency),
                        "--pool",
                        "prefork",
                        "--without-mingle",
                        "--without-gossip",
                        "--hostname",
                        f"bench{number}@%h",
                        "--queues",
                        "transactional,bulk",
                    ],
                    log,
                    env,
                )
            )
        deadline = time.monotonic() + 120
        for log in logs:
            while b" ready." not in log.read_bytes():
                if time.monotonic() > deadline:
                    sys.exit(f"a worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)

        os.environ.update(settings)  # the submitting app reads the same settings
        from sqlalchemy import func, select

        from dashboard import create_app
        from dashboard.extensions import db
        from dashboard.models import FINAL_STATUSES, Message, MessageStatus
        from dashboard.schemas import EmailContent, limits_context
        from dashboard.submission import submit_email

        app = create_app()
        addresses = [f"r{i}@bench{i % 50}.example.com" for i in range(args.messages)]
        with app.app_context():
            started = time.monotonic()
            content = EmailContent.model_validate(
                {"to": addresses, "subject": "Bench", "text": "Xin chào, đây là thư thử."},
                context=limits_context(app.config),
            )
            campaign = submit_email(content, source="api", queue="bulk")
            submitted = time.monotonic()
            timeout = max(300.0, args.messages / 20)
            while True:
                db.session.rollback()
                unfinished = db.session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.campaign_id == campaign.id,
                        Message.status.not_in([s.value for s in FINAL_STATUSES]),
                    )
                )
                if not unfinished:
                    break
                if time.monotonic() - started > timeout:
                    sys.exit(f"{run}: {unfinished} messages unfinished after {timeout:.0f}s")
                time.sleep(0.25)
            finished = time.monotonic()
            sent = db.session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.campaign_id == campaign.id, Message.status == MessageStatus.SENT)
            )
            db.session.remove()
            db.engine.dispose()
    return Outcome(
        database, broker, workers, args.messages, submitted - started, finished - started, sent
    )


def print_table(outcomes: list[Outcome], worker_counts: list[int]) -> None:
    pairs = list(dict.fromkeys((o.database, o.broker) for o in outcomes))
    by_key = {(o.database, o.broker, o.workers): o for o in outcomes}
    header = f"{'database + broker':<22}" + "".join(
        f"{f'{n} worker' + ('s' if n > 1 else ''):>14}" for n in worker_counts
    )
    print(header)
    print("-" * len(header))
    for database, broker in pairs:
        cells = []
        for n in worker_counts:
            outcome = by_key.get((database, broker, n))
            cells.append(f"{outcome.rate:>10.0f} m/s" if outcome else f"{'-':>14}")
        print(f"{database + ' + ' + broker:<22}" + "".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="recipients per campaign")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to try")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--brokers", default="redis,rabbitmq")
    parser.add_argument("--batch-size", type=int, default=50, help="MAIL_BATCH_SIZE")
    parser.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    databases = args.databases.split(",")
    brokers = args.brokers.split(",")

    outcomes: list[Outcome] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        sink_port, sink_name = stack.enter_context(smtp_sink(workdir))
        redis_url = stack.enter_context(own_redis(workdir))
        broker_urls = {"redis": redis_url}
        if "rabbitmq" in brokers:
            broker_urls["rabbitmq"] = stack.enter_context(rabbitmq_vhost())
        print(
            f"{args.messages:,} messages per run, batches of {args.batch_size}, each worker "
            f"{args.concurrency} process(es), to {sink_name}; {os.cpu_count()} CPUs",
            flush=True,
        )
        import redis

        results = redis.Redis.from_url(redis_url)
        for database in databases:
            for broker in brokers:
                for workers in worker_counts:
                    results.flushdb()
                    outcome = run_once(
                        database,
                        broker,
                        broker_urls[broker],
                        redis_url,
                        workers,
                        args,
                        sink_port,
                        workdir,
                    )
                    outcomes.append(outcome)
                    print(
                        f"  {database:<10} {broker:<8} {workers} worker(s): "
                        f"{outcome.rate:7.0f} msgs/s  ({outcome.total_seconds:.1f} s, "
                        f"submit {outcome.submit_seconds:.1f} s, sent {outcome.sent:,})",
                        flush=True,
                    )
        results.close()
    print()
    print_table(outcomes, worker_counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
