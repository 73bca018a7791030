"""Benchmark: a personalised CSV campaign of real-sized Vietnamese mail, sent by this project
(and, with `--baseline`, by another checkout of it) beside Postfix's own client and raw Python
loops, in alternating rounds, with the CPU each process spent per message and where the
worker's time went.

    .venv/bin/python bench/csv_campaign.py [--project 100000] [--rounds 3] [--baseline PATH]
                                           [--raw 20000] [--tutorial 2000] [--spy-rate 10]

The workload (`bench/workload.py`): Vietnamese names and cities in the CSV, a Vietnamese
subject with the name merged, text (~1.5 KB) and HTML (~2 KB) bodies with name and city merged,
List-Unsubscribe; about 6.5 KB a message on the wire. In each round, in a rotating order:

1. this project: its own redis-server, smtp-sink, gunicorn web app and one Celery worker with
   as many processes as the checkout's `make run` gives its bulk lane (or `--concurrency`), on
   SQLite, all fresh; the CSV uploaded over the API and imported, then timed from the confirm
   POST to the last message's `sent_at`;
2. the same for the `--baseline` checkout (e.g. `git worktree add /tmp/base aee3fdb`), started
   from its own directory by the same harness;
3. Postfix's `smtp-source` with one kept connection and with four, the same number of messages
   of the workload's typical size: the physical reference;
4. the raw Python loop (one connection, pre-built bytes) and the raw pipelined limit.

The tutorial design (`bench/tutorial_campaign.py`) runs once. Every run is checked: the sink
counts exactly the messages sent (Postfix's `smtp-sink -c`), and for the project exactly that
many rows are `sent`; the bench exits 1 if any run lost or duplicated a message. For the
project it prints CPU per message (utime + stime from /proc) of the worker's pool processes,
its main process, gunicorn, redis-server and the sink, and a breakdown of the pool processes'
time from py-spy samples taken during the send (`bench/worker_profile.py`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.counting_sink import delivered, sink_command  # noqa: E402
from bench.loopback import free_port, redis_command, wait_port  # noqa: E402
from bench.process_cpu import CpuWindow, children, descendants  # noqa: E402
from bench.references import (  # noqa: E402
    Run,
    run_raw,
    run_raw_pipelined,
    run_smtp_source,
    run_tutorial,
    wait_delivered,
    write_message_file,
)
from bench.worker_profile import CATEGORIES, Sampler, format_breakdown  # noqa: E402
from bench.workload import HTML, SUBJECT, TEXT, write_csv  # noqa: E402
from dashboard.ops.local_stack import loopback_settings, process_env, worker_command  # noqa: E402

PY = sys.executable
BIN = Path(PY).parent
# Other benches import these from here.
__all__ = ["BIN", "PY", "Stack", "bench_project", "free_port", "process_tree", "wait_port"]
__all__ += ["write_csv"]
process_tree = descendants


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process: the most memory it has held resident."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Stack:
    """Redis, smtp-sink, the project's worker and web app, each on its own loopback port."""

    def __init__(
        self,
        tmp: Path,
        concurrency: int = 2,
        *,
        workers: int = 1,
        database_url: str | None = None,
        broker_url: str | None = None,
        root: Path = ROOT,
    ) -> None:
        """`workers` worker processes of `concurrency` pool processes each, run from the
        checkout at `root`; by default the database is a SQLite file in `tmp` and the broker
        the stack's own redis-server."""
        self.tmp = tmp
        self.root = root
        self.concurrency = concurrency
        self.worker_count = workers
        self.children: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.redis_port = free_port()
        self.sink_port = free_port()
        self.web_port = free_port()
        self.database_url = database_url or f"sqlite:///{tmp / 'bench.db'}"
        self.broker_url = broker_url or f"redis://127.0.0.1:{self.redis_port}/1"
        self.token = ""

    def spawn(self, args: list[str], log: str, env: dict[str, str] | None = None):
        with (self.tmp / log).open("wb") as out:
            process = subprocess.Popen(
                args, cwd=self.root, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.children.append(process)
        return process

    def start_base(self) -> None:
        self.redis = self.spawn(redis_command(self.redis_port, self.tmp), "redis.log")
        self.sink = self.spawn(sink_command(self.sink_port), "sink.log")
        wait_port(self.redis_port)
        wait_port(self.sink_port)

    def delivered(self) -> int:
        """Messages the stack's smtp-sink has accepted."""
        return delivered(self.tmp / "sink.log")

    def project_env(self) -> dict[str, str]:
        """The stack's wiring and nothing more: every other setting keeps the default a
        deployment gets, since that is what is measured."""
        settings = loopback_settings(
            instance_dir=self.tmp,
            database_url=self.database_url,
            broker_url=self.broker_url,
            redis_url=f"redis://127.0.0.1:{self.redis_port}/1",
            mail_port=self.sink_port,
            secret_key="bench-secret",
        )
        return process_env(settings)

    def flask(self, *args: str) -> str:
        result = subprocess.run(
            [PY, "-m", "flask", *args],
            cwd=self.root,
            env=self.project_env(),
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return result.stdout

    def start_project(self) -> None:
        """Migrate, make an admin and an API token (the API needs one), start the workers and
        gunicorn, and wait until every worker is ready."""
        env = self.project_env()
        self.flask("db", "upgrade")
        password = uuid.uuid4().hex
        self.flask("create-admin", "--email", "bench@example.com", "--password", password)
        created = self.flask("tokens", "create", "--user", "bench@example.com", "--name", "bench")
        self.token = created.strip().splitlines()[-1]  # the secret, printed once, last
        logs = []
        for number in range(1, self.worker_count + 1):
            log = f"worker{number}.log"
            logs.append(self.tmp / log)
            self.workers.append(
                self.spawn(
                    worker_command(
                        concurrency=self.concurrency,
                        hostname=f"bench{number}-{uuid.uuid4().hex[:6]}@%h",
                        loglevel="info",  # as in production: a log line per attempt
                        mingle_and_gossip=False,
                    ),
                    log,
                    env,
                )
            )
        self.worker = self.workers[0]
        self.web = self.spawn(
            [
                str(BIN / "gunicorn"),
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--timeout",
                "300",
                "wsgi:app",
            ],
            "web.log",
            env,
        )
        wait_port(self.web_port, timeout=120)
        deadline = time.monotonic() + 180
        for log in logs:
            while b" ready." not in log.read_bytes():
                if time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.children):
            process.terminate()
        for process in self.children:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def rss(self) -> dict[str, float]:
        worker = [peak_rss_mb(pid) for process in self.workers for pid in process_tree(process.pid)]
        web = [peak_rss_mb(pid) for pid in process_tree(self.web.pid)]
        return {"worker_max_process_mb": max(worker), "web_max_process_mb": max(web)}

    # -- HTTP --------------------------------------------------------------------------------
    def request(self, method: str, path: str, body=None, headers=None) -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=300)
        headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = json.loads(response.read() or b"{}")
        connection.close()
        if response.status >= 400:
            raise SystemExit(f"{method} {path}: {response.status} {data}")
        return data

    def upload(self, csv_path: Path) -> int:
        """Stream a multipart body (templates, then the file) from disk; return the campaign."""
        boundary = uuid.uuid4().hex
        head = b""
        for name, value in (("subject", SUBJECT), ("text", TEXT), ("html", HTML)):
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="campaign.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        body_path = self.tmp / "upload.body"
        with body_path.open("wb") as out, csv_path.open("rb") as source:
            out.write(head)
            shutil.copyfileobj(source, out, 1024 * 1024)
            out.write(tail)
        with body_path.open("rb") as body:
            answer = self.request(
                "POST",
                "/api/v1/campaigns",
                body=body,
                headers={
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(body_path.stat().st_size),
                },
            )
        body_path.unlink()
        return answer["id"]

    def wait_import(self, campaign_id: int, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.request("GET", f"/api/v1/campaigns/{campaign_id}")
            if status["import"]["status"] in ("ready", "failed"):
                return status
            time.sleep(0.5)
        raise SystemExit("the import did not finish in time")

    def wait_sent(self, campaign_id: int, total: int, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.request("GET", f"/api/v1/campaigns/{campaign_id}")["counts"]
            if counts["sent"] + counts["failed"] + counts["cancelled"] >= total:
                return
            # As often as the campaign page polls: each poll counts the campaign's rows, and
            # its CPU is the web's share per message. The end time comes from the rows.
            time.sleep(2)
        raise SystemExit("the campaign did not finish in time")

    def _scalar(self, query: str, campaign_id: int):
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(text(query), {"id": campaign_id}).scalar_one()
        finally:
            engine.dispose()

    def last_sent_at(self, campaign_id: int) -> datetime:
        """When the campaign's last message was recorded as sent (the workers' clock, UTC)."""
        value = self._scalar(
            "SELECT max(sent_at) FROM message WHERE campaign_id = :id", campaign_id
        )
        if isinstance(value, str):  # SQLite hands back text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)

    def sent_rows(self, campaign_id: int) -> int:
        return self._scalar(
            "SELECT count(*) FROM message WHERE campaign_id = :id AND status = 'sent'", campaign_id
        )


def bench_project(
    stack: Stack, count: int, on_confirm: Callable[[], object] | None = None
) -> dict[str, float]:
    """Upload, import, confirm and send `count` personalised messages; `on_confirm` is called
    just before the confirm (bench/scale.py starts its CPU counters there)."""
    csv_path = stack.tmp / "campaign.csv"
    write_csv(csv_path, count)
    started = datetime.now(UTC)
    campaign_id = stack.upload(csv_path)
    status = stack.wait_import(campaign_id)
    assert status["import"]["valid"] == count, status["import"]
    if on_confirm is not None:
        on_confirm()
    confirmed = datetime.now(UTC)
    stack.request("POST", f"/api/v1/campaigns/{campaign_id}/confirm")
    stack.wait_sent(campaign_id, count)
    counts = stack.request("GET", f"/api/v1/campaigns/{campaign_id}")["counts"]
    assert counts["sent"] == count, counts
    last = stack.last_sent_at(campaign_id)
    seconds = (last - started).total_seconds()
    send_seconds = (last - confirmed).total_seconds()
    return {"end_to_end": count / seconds, "send_only": count / send_seconds, "seconds": seconds}


def run_project(
    label: str, root: Path, folder: Path, count: int, concurrency: int, spy_rate: int
) -> Run:
    """One campaign on a fresh stack of the checkout at `root`, timed from the confirm POST to
    the last `sent_at`, with CPU per process and py-spy on the pool processes meanwhile."""
    folder.mkdir(parents=True)
    stack = Stack(folder, concurrency, root=root)
    try:
        stack.start_base()
        stack.start_project()
        csv_path = folder / "campaign.csv"
        write_csv(csv_path, count)
        campaign_id = stack.upload(csv_path)
        status = stack.wait_import(campaign_id)
        if status["import"]["valid"] != count:
            raise SystemExit(f"{label}: the import took {status['import']}")
        main = stack.worker.pid
        sampler = Sampler(folder, spy_rate)
        if spy_rate:
            sampler.start(children(main))
            time.sleep(1)  # py-spy attached before the clock starts
        window = CpuWindow(
            {
                "worker pool": lambda: children(main),
                "worker main": lambda: [main],
                "web": lambda: descendants(stack.web.pid),
                "redis": lambda: [stack.redis.pid],
                "sink": lambda: [stack.sink.pid],
                "py-spy": sampler.pids,
            }
        )
        window.start()
        confirmed = datetime.now(UTC)
        stack.request("POST", f"/api/v1/campaigns/{campaign_id}/confirm")
        stack.wait_sent(campaign_id, count)
        cpu = window.stop()
        breakdown = sampler.stop() if spy_rate else None
        if spy_rate and not breakdown.busy:
            print(f"  py-spy took no samples: {sampler.error}", flush=True)
        seconds = (stack.last_sent_at(campaign_id) - confirmed).total_seconds()
        seen = wait_delivered(folder / "sink.log", count, timeout=5)
        time.sleep(1)  # a late duplicate would show here
        seen = max(seen, stack.delivered())
        rss = stack.rss()
        return Run(
            label,
            count,
            seconds,
            seen,
            cpu,
            sent_rows=stack.sent_rows(campaign_id),
            breakdown=breakdown,
            notes={
                "import rows/s": float(status["import"].get("rows_per_second") or 0),
                "worker peak MB": rss["worker_max_process_mb"],
            },
        )
    except BaseException:
        for log in sorted(folder.glob("*.log")):
            if log.name != "sink.log":
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
        raise
    finally:
        stack.stop()


def bench_import(stack: Stack, count: int) -> dict[str, float]:
    csv_path = stack.tmp / "import.csv"
    write_csv(csv_path, count)
    size_mb = csv_path.stat().st_size / 1024 / 1024
    clock = time.perf_counter()
    campaign_id = stack.upload(csv_path)
    wall_upload = time.perf_counter() - clock
    status = stack.wait_import(campaign_id)
    wall = time.perf_counter() - clock
    assert status["import"]["status"] == "ready", status["import"]
    return {
        "rows_per_second_in_worker": status["import"]["rows_per_second"],
        "rows_per_second_upload_to_ready": count / wall,
        "upload_seconds": wall_upload,
        "file_mb": size_mb,
    }


# --- the run -----------------------------------------------------------------------------------
def bulk_lane_processes(root: Path) -> int:
    """How many processes the checkout's `make run` gives its bulk worker (`DEFAULT_LANES`), or
    2 for a checkout from before the lanes had their own."""
    code = (
        "from dashboard.ops.local_stack import DEFAULT_LANES;"
        "print(next(lane.concurrency for lane in DEFAULT_LANES if 'bulk' in lane.queues))"
    )
    found = subprocess.run([PY, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    return int(found.stdout) if found.returncode == 0 else 2


def revision(root: Path) -> str:
    """The checkout's commit, with `+changes` when its tracked files differ from it."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return sha + ("+changes" if dirty else "")


def cpu_line(run: Run) -> str:
    per = run.cpu.per_message_us(run.messages)
    parts = ", ".join(f"{name} {us:,.0f}" for name, us in per.items())
    total = sum(us for name, us in per.items() if name != "py-spy")
    return (
        f"    CPU µs/msg: {parts} (total {total:,.0f} without py-spy); "
        f"machine {run.cpu.machine_busy:.0%} busy, load average {run.cpu.load:.1f}"
    )


def report_run(number: int, run: Run) -> None:
    rows = f", {run.sent_rows:,} rows sent" if run.sent_rows is not None else ""
    flag = "" if run.exact else "   <-- NOT EXACT"
    print(
        f"round {number}  {run.system:<36}{run.messages:>9,} msgs {run.seconds:7.1f} s "
        f"{run.rate:>8,.0f} msgs/s  delivered {run.delivered:,}{rows}{flag}",
        flush=True,
    )
    print(cpu_line(run), flush=True)


def median_rate(runs: list[Run]) -> float:
    return statistics.median(run.rate for run in runs)


def print_summary(
    results: dict[str, list[Run]], project: str, baseline: str | None, reference: str
) -> None:
    print()
    print(f"{'system':<40}{'msgs':>9}{'median msgs/s':>15}{'range':>19}{'vs smtp-source 1':>18}")
    ref = median_rate(results[reference]) if results.get(reference) else None
    for system, runs in results.items():
        rate = median_rate(runs)
        low, high = min(r.rate for r in runs), max(r.rate for r in runs)
        versus = f"{rate / ref:>17.2f}x" if ref else f"{'-':>18}"
        print(
            f"{system:<40}{runs[0].messages:>9,}{rate:>15,.0f}{f'{low:,.0f} to {high:,.0f}':>19}"
            f"{versus}"
        )
    print()
    if baseline and results.get(baseline):
        ratio = median_rate(results[project]) / median_rate(results[baseline])
        print(f"this tree / baseline (medians, from confirm): {ratio:.2f}x")
    if ref:
        ratio = median_rate(results[project]) / ref
        print(f"this tree / smtp-source, 1 kept connection (medians): {ratio:.2f}x")
    print()
    print("CPU per message, µs (median of the rounds; utime + stime from /proc):")
    for system, runs in results.items():
        groups = list(dict.fromkeys(g for r in runs for g in r.cpu.seconds))
        parts = []
        for group in groups:
            value = statistics.median(r.cpu.per_message_us(r.messages).get(group, 0) for r in runs)
            parts.append(f"{group} {value:,.0f}")
        totals = [
            sum(us for g, us in r.cpu.per_message_us(r.messages).items() if g != "py-spy")
            for r in runs
        ]
        print(f"  {system:<38} total {statistics.median(totals):,.0f}: " + ", ".join(parts))
    print()
    profiled = [(s, runs) for s, runs in results.items() if any(r.breakdown for r in runs)]
    if profiled:
        print("Worker pool processes' time while sending (py-spy, all rounds, share of samples")
        print("taken while a task ran):")
        merged = {}
        for system, runs in profiled:
            breakdown = None
            for run in runs:
                if run.breakdown is not None:
                    breakdown = (
                        run.breakdown if breakdown is None else breakdown.merge(run.breakdown)
                    )
            merged[system] = breakdown
        header = f"  {'category':<30}" + "".join(f"{s[:22]:>24}" for s in merged)
        print(header)
        for name in CATEGORIES:
            if name == "idle between tasks":
                continue
            shares = [b.shares().get(name, 0.0) for b in merged.values()]
            if any(shares):
                print(f"  {name:<30}" + "".join(f"{share:>24.1%}" for share in shares))
        for system, breakdown in merged.items():
            lines = format_breakdown(breakdown, system)
            print(f"  {lines[0]}")
            if "heaviest leaves" in lines[-1]:
                print(f"  {lines[-1].strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=int, default=100_000, help="recipients per campaign")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout of the project")
    parser.add_argument("--raw", type=int, default=20_000, help="messages for the raw loops")
    parser.add_argument("--tutorial", type=int, default=2_000, help="0 to leave it out")
    parser.add_argument(
        "--concurrency",
        type=int,
        help="processes per worker (default: each checkout's make-run bulk lane; 2 for the rest)",
    )
    parser.add_argument("--spy-rate", type=int, default=10, help="py-spy samples/s; 0: none")
    parser.add_argument("--import-rows", type=int, default=0, help="a separate import bench")
    parser.add_argument("--keep", action="store_true", help="keep the logs and py-spy samples")
    args = parser.parse_args()
    if args.baseline and not (args.baseline / "celery_worker.py").exists():
        parser.error(f"{args.baseline} is not a checkout of this project")

    project = f"this tree ({revision(ROOT)})"
    baseline = f"baseline ({revision(args.baseline)})" if args.baseline else None
    lanes = {project: args.concurrency or bulk_lane_processes(ROOT)}
    if args.baseline:
        lanes[baseline] = args.concurrency or bulk_lane_processes(args.baseline.resolve())
    others = args.concurrency or 2  # the raw loops, the tutorial and the import bench
    print("worker processes: " + ", ".join(f"{name} {n}" for name, n in lanes.items()), flush=True)
    source_1, source_4 = "smtp-source, 1 kept connection", "smtp-source, 4 kept connections"
    workdir = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    message_file = workdir / "message.eml"
    mean_size = write_message_file(message_file)
    on_wire = len(message_file.read_bytes().replace(b"\n", b"\r\n"))
    print(
        f"{args.project:,} personalised messages per campaign, mean {mean_size:,.0f} bytes "
        f"(smtp-source's file {on_wire:,} bytes on the wire); {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    systems: list[tuple[str, Callable[[Path], Run]]] = [
        (
            project,
            lambda f: run_project(project, ROOT, f, args.project, lanes[project], args.spy_rate),
        )
    ]
    if args.baseline:
        systems.append(
            (
                baseline,
                lambda f: run_project(
                    baseline,
                    args.baseline.resolve(),
                    f,
                    args.project,
                    lanes[baseline],
                    args.spy_rate,
                ),
            )
        )
    systems += [
        (source_1, lambda f: run_smtp_source(f, args.project, 1, message_file)),
        (source_4, lambda f: run_smtp_source(f, args.project, 4, message_file)),
    ]
    if args.raw:
        systems += [
            ("raw Python, one connection", lambda f: run_raw(f, args.raw)),
            (
                f"raw pipelined, {others} processes",
                lambda f: run_raw_pipelined(f, args.raw, others),
            ),
        ]

    results: dict[str, list[Run]] = {name: [] for name, _ in systems}
    try:
        for number in range(1, args.rounds + 1):
            shift = (number - 1) % len(systems)
            for name, run in systems[shift:] + systems[:shift]:
                outcome = run(workdir / f"round{number}-{uuid.uuid4().hex[:6]}")
                results[name].append(outcome)
                report_run(number, outcome)
        if args.tutorial:
            outcome = run_tutorial(workdir / "tutorial", args.tutorial, others, ROOT)
            results[outcome.system] = [outcome]
            report_run(1, outcome)
        imported = None
        if args.import_rows:
            stack = Stack(workdir / "import", others)
            stack.tmp.mkdir()
            try:
                stack.start_base()
                stack.start_project()
                imported = bench_import(stack, args.import_rows)
                imported["worker_mb"] = stack.rss()["worker_max_process_mb"]
            finally:
                stack.stop()
    finally:
        if args.keep:
            print(f"logs and py-spy samples kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_summary(results, project, baseline, source_1)
    if imported:
        print()
        print(
            f"CSV import of {args.import_rows:,} rows ({imported['file_mb']:.0f} MB): "
            f"{imported['rows_per_second_in_worker']:,.0f} rows/s in the worker, "
            f"{imported['rows_per_second_upload_to_ready']:,.0f} rows/s from upload start "
            f"to ready; worker peak RSS {imported['worker_mb']:.0f} MB"
        )
    wrong = [r for runs in results.values() for r in runs if not r.exact]
    print()
    if wrong:
        for run in wrong:
            print(
                f"NOT EXACT: {run.system}: {run.messages:,} sent, {run.delivered:,} at the sink, "
                f"{run.sent_rows if run.sent_rows is not None else '-'} rows sent"
            )
        return 1
    runs = sum(len(r) for r in results.values())
    print(f"every run exact: {runs} runs, each delivered exactly its messages once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
