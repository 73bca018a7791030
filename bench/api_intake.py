"""Benchmark: sustained `POST /api/v1/emails` per second through gunicorn, the project's app
(`wsgi:app`, on SQLite and on PostgreSQL, every message stored) against the tutorial design
(`bench/tutorial_api.py`: Flask, one `.delay()` per request, nothing stored), side by side in
one run.

    .venv/bin/python bench/api_intake.py [--seconds 20] [--rounds 3] [--connections 8]
                                         [--backends sqlite,postgresql] [--floor]

Each server is gunicorn as the Dockerfile and docker-compose.yml start it (`--workers 2
--threads 4`), the same for all three. The load is `wrk` (Debian's package: `apt-get install
wrk`): `--connections` keep-alive connections on 2 threads, each posting the same single email
(one recipient, a Vietnamese subject, a text body) as fast as the answers come, for `--seconds`;
the three servers take turns, `--rounds` times, in a rotating order, and the figures are the
medians over the rounds. The two gunicorn workers race to accept wrk's connections once per
round, and now and then one takes them all and the round runs on one process: each round says
what share of the workers' CPU its busiest worker spent, and when a round ran on one process
(85% or more) the summary gives the medians over the other rounds too. Each server first
answers eight 202s in a row (gunicorn listens before its workers have imported the app), then
gets a 3 s warm-up. No Celery worker runs: what is measured is the web tier accepting (and,
for the project, storing) each message and publishing its task to the broker; a worker
consuming on the same two cores would take CPU from the web tier, differently for each design.

The broker is the machine's Redis, db 10 for the project and db 11 for the tutorial (both are
flushed at the start and at the end: `--redis` names the server); the PostgreSQL database is
the bench's own (`bench_intake_<pid>`, created and dropped on `--postgres-url`, or
`BENCH_POSTGRES_URL`). Afterwards it checks that every accepted email was stored (a message row
each) and published (the tasks on the broker carry exactly the stored messages' ids; concurrent
submissions share tasks, see `dashboard/sending/intake.py`).

`--floor` adds a fourth server, `bench/stored_floor_api.py`: the tutorial's view storing each
email in the project's own PostgreSQL schema (one statement a request, committed) instead of
publishing it, the least any design that stores before it answers does per request; its
database is the bench's own too (`bench_floor_<pid>`). Every round also gives the PostgreSQL
server's CPU per accepted email (its processes' user + system time over the round), which the
web CPU column does not count and which runs on the same cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.csv_campaign import BIN, PY, free_port, process_tree, wait_port  # noqa: E402
from dashboard.ops.local_stack import (  # noqa: E402
    WEB_GUNICORN_OPTIONS,
    loopback_settings,
    process_env,
)

BODY = json.dumps(
    {
        "to": "Nguyễn Văn An <an@example.com>",
        "subject": "Mã đặt lại mật khẩu của bạn",
        "text": "Mã của bạn: 482913\n\nMã có hiệu lực trong 10 phút.\n",
    },
    ensure_ascii=False,
)
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {{\\"requests\\": %d, \\"duration_us\\": %d, \\"status_errors\\": %d, "
    .. "\\"socket_errors\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d}}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""

GUNICORN = list(WEB_GUNICORN_OPTIONS)  # as the Dockerfile, docker-compose.yml, `make run`


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each of `pids` so far (its own, not its reaped children's)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


#: A round in which one gunicorn worker spent at least this share of the workers' CPU ran on
#: one process: it accepted every connection of wrk's (see `load`).
ONE_PROCESS_SHARE = 0.85


class Server:
    """One gunicorn on a free loopback port, its log in the run's directory."""

    def __init__(self, name: str, tmp: Path, app: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.token = ""
        self.log = tmp / f"{name}.log"
        self.env = env
        self.app = app
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), *GUNICORN, "--bind", f"127.0.0.1:{self.port}", self.app],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port)
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        """Gunicorn listens before its workers have imported the app (seconds on a busy
        machine): post until a few emails in a row are accepted, so no round waits for that."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        deadline, accepted = time.monotonic() + timeout, 0
        while accepted < 8:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name} never answered 202:\n{self.log.read_text()[-3000:]}")
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/api/v1/emails", BODY.encode(), headers
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    accepted = accepted + 1 if answer.status == 202 else 0
            except OSError:
                accepted = 0
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def pids(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []


def project_env(name: str, tmp: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment the project's processes get for `database_url` (an instance folder of
    their own under `tmp`)."""
    instance = tmp / name
    instance.mkdir()
    settings = loopback_settings(
        instance_dir=instance,
        database_url=database_url,
        broker_url=redis_url,
        redis_url=redis_url,
        mail_port=free_port(),  # nothing sends: no worker runs
        secret_key="bench-secret",
    )
    return process_env(settings)


def flask_command(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [PY, "-m", "flask", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def project_server(name: str, tmp: Path, database_url: str, redis_url: str) -> Server:
    """The project's app on `database_url`: migrated, an admin, a token made with the CLI."""
    env = project_env(name, tmp, database_url, redis_url)
    server = Server(name, tmp, "wsgi:app", env)

    flask_command(env, "db", "upgrade")
    flask_command(
        env, "create-admin", "--email", "bench@example.com", "--password", uuid.uuid4().hex
    )
    created = flask_command(
        env, "tokens", "create", "--user", "bench@example.com", "--name", "bench"
    )
    server.token = created.strip().splitlines()[-1]  # the secret, printed once, last
    server.start()
    return server


def tutorial_server(tmp: Path, redis_url: str) -> Server:
    env = {
        **os.environ,
        "BENCH_TUTORIAL_BROKER": redis_url,
        "BENCH_SMTP_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    server = Server("tutorial", tmp, "bench.tutorial_api:app", env)
    server.start()
    return server


def floor_server(tmp: Path, database_url: str, redis_url: str) -> Server:
    """`bench/stored_floor_api.py` on `database_url`, migrated by the project's migrations."""
    flask_command(project_env("floor", tmp, database_url, redis_url), "db", "upgrade")
    env = {
        **os.environ,
        "BENCH_FLOOR_DATABASE": make_url(database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        "PYTHONUNBUFFERED": "1",
    }
    server = Server("floor", tmp, "bench.stored_floor_api:app", env)
    server.start()
    return server


def database_server_pids() -> list[int]:
    """The PostgreSQL server's processes (its backends do each statement's work)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def load(server: Server, tmp: Path, seconds: float, connections: int) -> dict[str, float]:
    """`wrk` against `server` for `seconds`; rates, latencies and the web tier's CPU."""
    script = tmp / f"{server.name}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {server.token}"' if server.token else ""
    script.write_text(WRK_SCRIPT.format(body=json.dumps(BODY, ensure_ascii=False), auth=auth))
    pids = server.pids()
    master = server.process.pid if server.process else None
    database_pids = database_server_pids()
    cpu_before, database_before = cpu_seconds(pids), cpu_seconds(database_pids)
    result = subprocess.run(
        [
            shutil.which("wrk") or "wrk",
            "--threads",
            "2",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds:.0f}s",
            "--timeout",
            "10s",
            "--script",
            str(script),
            f"http://127.0.0.1:{server.port}/api/v1/emails",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    cpu_after, database_after = cpu_seconds(pids), cpu_seconds(database_pids)
    database_cpu = sum(database_after.values()) - sum(
        database_before.get(pid, 0.0) for pid in database_after
    )
    spent = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    cpu = sum(spent.values())
    # The workers race to accept wrk's connections, once per round: when one takes them all,
    # the round runs on one process (one GIL), for either design. Told by their CPU.
    workers = [seconds for pid, seconds in spent.items() if pid != master]
    busiest = max(workers, default=0.0) / max(sum(workers), 1e-9)
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))
    found = json.loads(line.removeprefix("RESULT "))
    accepted = found["requests"] - found["status_errors"]
    return {
        "accepted": accepted,
        "refused": found["status_errors"] + found["socket_errors"],
        "per_second": accepted / (found["duration_us"] / 1e6),
        "p50_ms": found["p50_us"] / 1000,
        "p99_ms": found["p99_us"] / 1000,
        "max_ms": found["max_us"] / 1000,
        "web_cpu_ms": 1000 * cpu / max(accepted, 1),
        "database_cpu_ms": 1000 * database_cpu / max(accepted, 1),
        "busiest_worker": busiest,
    }


def admin_connection(url: str) -> psycopg.Connection:
    return psycopg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
        autocommit=True,
        connect_timeout=5,
    )


def stored_messages(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(make_url(database_url).database) as connection:
            return connection.execute("SELECT count(*) FROM message").fetchone()[0]
    with admin_connection(database_url) as connection:
        return connection.execute("SELECT count(*) FROM message").fetchone()[0]


def published_ids(redis_url: str, queue: str) -> int:
    """How many message ids the tasks waiting on `queue` carry (a task may carry several)."""
    client = redis.Redis.from_url(redis_url)
    total, length = 0, client.llen(queue)
    for start in range(0, length, 1000):
        for raw in client.lrange(queue, start, start + 999):
            body = json.loads(base64.b64decode(json.loads(raw)["body"]))
            total += len(body[0][0])  # protocol 2: [args, kwargs, embed]; args[0] is the ids
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--gunicorn",
        default=" ".join(WEB_GUNICORN_OPTIONS),
        help="the gunicorn options every server gets (default: the project's own)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="server, no db")
    parser.add_argument("--project-db", type=int, default=10)
    parser.add_argument("--tutorial-db", type=int, default=11)
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also the least a design storing each email in PostgreSQL does "
        "(bench/stored_floor_api.py)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    GUNICORN[:] = args.gunicorn.split()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    project_redis = f"{args.redis}/{args.project_db}"
    tutorial_redis = f"{args.redis}/{args.tutorial_db}"
    for url in (project_redis, tutorial_redis):
        redis.Redis.from_url(url).flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    pg_name = f"bench_intake_{os.getpid()}"
    floor_name = f"bench_floor_{os.getpid()}"
    floor_url = ""
    servers: list[Server] = []
    databases: dict[str, str] = {}
    try:
        for backend in backends:
            if backend == "sqlite":
                databases[backend] = f"sqlite:///{tmp / 'intake.db'}"
            else:
                with admin_connection(args.postgres_url) as admin:
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_name)))
                databases[backend] = (
                    make_url(args.postgres_url)
                    .set(database=pg_name)
                    .render_as_string(hide_password=False)
                )
            servers.append(project_server(backend, tmp, databases[backend], project_redis))
        servers.append(tutorial_server(tmp, tutorial_redis))
        if args.floor:
            with admin_connection(args.postgres_url) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(floor_name)))
            floor_url = (
                make_url(args.postgres_url)
                .set(database=floor_name)
                .render_as_string(hide_password=False)
            )
            servers.append(floor_server(tmp, floor_url, project_redis))
        for server in servers:  # warm-up: connections opened, code paths compiled
            load(server, tmp, 3, args.connections)
        warmed = {name: stored_messages(url) for name, url in databases.items()}
        floor_warm = stored_messages(floor_url) if floor_url else 0
        tutorial_warm = redis.Redis.from_url(tutorial_redis).llen("tutorial")
        project_warm = redis.Redis.from_url(project_redis).llen("transactional")
        ids_warm = published_ids(project_redis, "transactional")
        results: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
        for number in range(args.rounds):
            order = servers[number % len(servers) :] + servers[: number % len(servers)]
            for server in order:
                figures = load(server, tmp, args.seconds, args.connections)
                results[server.name].append(figures)
                print(
                    f"round {number + 1} {server.name:<11} {figures['per_second']:>7,.0f}/s "
                    f"p50 {figures['p50_ms']:.1f} ms p99 {figures['p99_ms']:.1f} ms "
                    f"web CPU {figures['web_cpu_ms']:.2f} ms/req, "
                    f"PostgreSQL {figures['database_cpu_ms']:.2f}, "
                    f"busiest worker {figures['busiest_worker']:.0%} of it "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        # Every accepted email stored, and every one published (the queue holds them all:
        # nothing consumes it). Requests in flight when wrk stopped may add a few more.
        time.sleep(2)  # the requests in flight when wrk stopped finish (stored and published)
        checks = []
        for name, url in databases.items():
            accepted = sum(r["accepted"] for r in results[name])
            stored = stored_messages(url) - warmed[name]
            checks.append(f"{name}: {accepted:,} accepted, {stored:,} stored")
            assert stored >= accepted, checks[-1]
        published = redis.Redis.from_url(project_redis).llen("transactional") - project_warm
        ids = published_ids(project_redis, "transactional") - ids_warm
        checks.append(f"project: {ids:,} message ids published in {published:,} tasks")
        stored = sum(stored_messages(url) - warmed[name] for name, url in databases.items())
        assert ids == stored, checks[-1]
        queued = redis.Redis.from_url(tutorial_redis).llen("tutorial") - tutorial_warm
        accepted = sum(r["accepted"] for r in results["tutorial"])
        checks.append(f"tutorial: {accepted:,} accepted, {queued:,} tasks on the broker")
        assert queued >= accepted, checks[-1]
        if floor_url:
            accepted = sum(r["accepted"] for r in results["floor"])
            stored = stored_messages(floor_url) - floor_warm
            checks.append(f"floor: {accepted:,} accepted, {stored:,} stored")
            assert stored >= accepted, checks[-1]
    finally:
        for server in servers:
            server.stop()
        dropped = [pg_name] if "postgresql" in databases else []
        dropped += [floor_name] if floor_url else []
        for name in dropped:
            with admin_connection(args.postgres_url) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        for url in (project_redis, tutorial_redis):
            redis.Redis.from_url(url).flushdb()
    print()
    print("; ".join(checks))
    print(
        f"{args.rounds} rounds of {args.seconds:.0f} s, {args.connections} connections, "
        f"gunicorn {' '.join(GUNICORN)}; medians over the rounds"
    )
    tutorial_rate = statistics.median(r["per_second"] for r in results["tutorial"])
    print(
        f"{'design':<34}{'accepted/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'web CPU ms/req':>16}"
        f"{'PostgreSQL CPU':>16}{'vs tutorial':>13}"
    )
    labels = {
        "sqlite": "project, SQLite (stored)",
        "postgresql": "project, PostgreSQL (stored)",
        "tutorial": "tutorial (.delay(), nothing kept)",
        "floor": "floor: one INSERT, PostgreSQL",
    }
    for server in servers:
        print_row(labels[server.name], results[server.name], tutorial_rate)
    both = {
        name: [r for r in runs if r["busiest_worker"] < ONE_PROCESS_SHARE]
        for name, runs in results.items()
    }
    if any(len(runs) < len(results[name]) for name, runs in both.items()) and both["tutorial"]:
        print(
            f"only the rounds both gunicorn workers served (one worker spent under "
            f"{ONE_PROCESS_SHARE:.0%} of their CPU): "
            + ", ".join(f"{name} {len(both[name])} of {len(results[name])}" for name in both)
        )
        tutorial_rate = statistics.median(r["per_second"] for r in both["tutorial"])
        for server in servers:
            if both[server.name]:
                print_row(labels[server.name], both[server.name], tutorial_rate)
    shutil.rmtree(tmp, ignore_errors=True)


def print_row(label: str, runs: list[dict[str, float]], tutorial_rate: float) -> None:
    rate = statistics.median(r["per_second"] for r in runs)
    print(
        f"{label:<34}{rate:>11,.0f}"
        f"{statistics.median(r['p50_ms'] for r in runs):>9.1f}"
        f"{statistics.median(r['p99_ms'] for r in runs):>9.1f}"
        f"{statistics.median(r['web_cpu_ms'] for r in runs):>16.2f}"
        f"{statistics.median(r['database_cpu_ms'] for r in runs):>16.2f}"
        f"{rate / tutorial_rate:>12.2f}x"
    )


if __name__ == "__main__":
    main()
