"""How throughput grows with worker processes: the 100,000-recipient CSV campaign, sent by 1, 2
and 4 Celery worker processes, with Redis and with RabbitMQ as the broker, with SQLite and with
PostgreSQL as the database, to Postfix's `smtp-sink`. Prints msgs/s for each, side by side, and
where the CPU went while it sent.

    .venv/bin/python bench/scale.py                                   # all 12 runs, 100,000 each
    .venv/bin/python bench/scale.py --pairs sqlite+redis,postgresql+rabbitmq --workers 1,2

Each run goes the way a real campaign goes, with `bench/csv_campaign.py`'s code: the CSV uploaded
to the web app (gunicorn) over the API, imported by a worker, confirmed, and sent on the bulk
queue (`BULK_BATCH_SIZE` recipients per task, one SMTP connection each). "From confirm" is timed
from the confirm request to the last message's `sent_at`; "end to end" from the upload's first
byte. Everything each run starts is its own and on loopback: a redis-server (results, rate
limit and, for the Redis runs, the broker) and smtp-sink on free ports in a temporary folder, a
RabbitMQ vhost and a PostgreSQL database named after the bench's pid (both dropped after). It
needs the machine's PostgreSQL and RabbitMQ only for those runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.csv_campaign import Stack, bench_project, process_tree  # noqa: E402
from bench.process_cpu import machine_busy  # noqa: E402

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
TICKS = os.sysconf("SC_CLK_TCK")
PAIRS = ("sqlite+redis", "sqlite+rabbitmq", "postgresql+redis", "postgresql+rabbitmq")


# --- engines ---------------------------------------------------------------------------------
def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_vhost(name: str) -> Iterator[str]:
    parts = urlsplit(RABBITMQ_URL)
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, parts.username or "guest", ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        rabbitmqctl("delete_vhost", name)


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql")

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


# --- where the CPU goes ----------------------------------------------------------------------
def cpu_ticks(pid: int) -> int:
    """User + system clock ticks a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def tree(pid: int) -> list[int]:
    try:
        return process_tree(pid)
    except FileNotFoundError:
        return [pid]


def pids_whose_cmdline_has(words: tuple[str, ...]) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(word in cmdline for word in words):
            pids.append(int(entry.name))
    return pids


@dataclass
class CpuMeter:
    """Cores used by each part of the run between start() and stop()."""

    groups: dict[str, Callable[[], list[int]]]  # name -> a function listing its pids now
    started: dict[str, dict[int, int]] = field(default_factory=dict)
    machine_start: tuple[int, int] = (0, 0)
    wall_start: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self.started = {
            name: {p: cpu_ticks(p) for p in pids()} for name, pids in self.groups.items()
        }
        self.machine_start = machine_busy()
        self.wall_start = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall_start
        for name, pids in self.groups.items():
            before = self.started[name]
            used = sum(max(0, cpu_ticks(p) - before.get(p, 0)) for p in pids())
            self.cores[name] = used / TICKS / wall
        busy, total = machine_busy()
        busy0, total0 = self.machine_start
        cpus = os.cpu_count() or 1
        self.cores["machine"] = (busy - busy0) / max(1, total - total0) * cpus
        self.cores["load"] = os.getloadavg()[0]
        return self.cores


# --- one run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    database: str
    broker: str
    workers: int
    messages: int
    send_rate: float
    end_to_end_rate: float
    cores: dict[str, float]


def run_once(
    database: str, broker: str, workers: int, args: argparse.Namespace, workdir: Path
) -> Outcome:
    run = f"{database}-{broker}-{workers}"
    tmp = workdir / run
    tmp.mkdir()
    name = f"dispatcher_bench_{os.getpid()}"
    with ExitStack() as engines:
        database_url = broker_url = None
        if database == "postgresql":
            database_url = engines.enter_context(postgres_database(name))
        if broker == "rabbitmq":
            broker_url = engines.enter_context(rabbitmq_vhost(name.replace("_", "-")))
        engines.callback(shutil.rmtree, tmp, ignore_errors=True)
        stack = Stack(
            tmp,
            args.concurrency,
            workers=workers,
            database_url=database_url,
            broker_url=broker_url,
        )
        try:
            stack.start_base()
            stack.start_project()
            groups = {
                "web": lambda: tree(stack.web.pid),
                "workers": lambda: [p for w in stack.workers for p in tree(w.pid)],
                "smtp-sink": lambda: tree(stack.sink.pid),
                "redis": lambda: [stack.redis.pid],
            }
            if database == "postgresql":
                groups["postgresql"] = lambda: pids_whose_cmdline_has(("postgres:", f" {name} "))
            if broker == "rabbitmq":  # the machine's one server, shared with everyone's tests
                groups["rabbitmq"] = lambda: pids_whose_cmdline_has(("beam.smp", "rabbit"))
            meter = CpuMeter(groups)
            result = bench_project(stack, args.messages, on_confirm=meter.start)
            cores = meter.stop()
        except BaseException:
            for log in sorted(tmp.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
            raise
        finally:
            stack.stop()
    return Outcome(
        database,
        broker,
        workers,
        args.messages,
        result["send_only"],
        result["end_to_end"],
        cores,
    )


# --- output ----------------------------------------------------------------------------------
def print_table(outcomes: list[Outcome], worker_counts: list[int], which: str) -> None:
    pairs = list(dict.fromkeys((o.database, o.broker) for o in outcomes))
    by_key = {(o.database, o.broker, o.workers): o for o in outcomes}
    header = f"{'msgs/s ' + which:<26}" + "".join(
        f"{f'{n} worker' + ('s' if n > 1 else ''):>12}" for n in worker_counts
    )
    print(header)
    print("-" * len(header))
    for database, broker in pairs:
        cells = []
        for n in worker_counts:
            outcome = by_key.get((database, broker, n))
            rate = None
            if outcome:
                rate = outcome.send_rate if which == "from confirm" else outcome.end_to_end_rate
            cells.append(f"{rate:>12,.0f}" if rate else f"{'-':>12}")
        print(f"{database + ' + ' + broker:<26}" + "".join(cells))


def cpu_line(outcome: Outcome) -> str:
    parts = [
        f"{name} {value:.2f}"
        for name, value in outcome.cores.items()
        if name not in ("machine", "load")
    ]
    return (
        f"{outcome.database}+{outcome.broker} x{outcome.workers}: cores used while sending: "
        + ", ".join(parts)
        + f"; whole machine {outcome.cores['machine']:.2f} of {os.cpu_count()}"
        + f"; load average {outcome.cores['load']:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="recipients per campaign")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to try")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="database+broker pairs to try")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    pairs = [pair.split("+") for pair in args.pairs.split(",")]
    for database, broker in pairs:
        if f"{database}+{broker}" not in PAIRS:
            parser.error(f"unknown pair {database}+{broker}; choose from {', '.join(PAIRS)}")

    print(
        f"{args.messages:,} personalised messages per run (CSV upload, import, confirm, bulk "
        f"queue), worker processes of {args.concurrency} pool process(es), to smtp-sink; "
        f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as workdir:
        for database, broker in pairs:
            for workers in worker_counts:
                outcome = run_once(database, broker, workers, args, Path(workdir))
                outcomes.append(outcome)
                print(
                    f"  {database:<10} {broker:<8} {workers} worker(s): "
                    f"{outcome.send_rate:7,.0f} msgs/s from confirm, "
                    f"{outcome.end_to_end_rate:7,.0f} end to end",
                    flush=True,
                )
                print(f"    {cpu_line(outcome)}", flush=True)
    print()
    print_table(outcomes, worker_counts, "from confirm")
    print()
    print_table(outcomes, worker_counts, "end to end")
    print()
    for outcome in outcomes:
        print(cpu_line(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
