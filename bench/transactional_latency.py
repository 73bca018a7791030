"""Benchmark: how long a single email posted to the API waits, with no campaign running, during a
large campaign sent as fast as the SMTP sink takes it, and during a campaign held back by
RATE_LIMIT_PER_SECOND; side by side, in one run.

    .venv/bin/python bench/transactional_latency.py [--campaign 100000] [--limited 3000]
                                                    [--rate 50] [--singles 40] [--tree PATH]

Each figure is the time from the API's 202 (as the client receives it) to the SMTP server
receiving that email's MAIL FROM, timestamped in the sink (`bench/timing_sink.py`): p50, p99 and
max over `--singles` emails posted one every 0.25 s. The set-up is the default one: the workers
`make run` starts (`DEFAULT_LANES`: one for `transactional`, one for `bulk`), beat, gunicorn as
`make run` runs it, SQLite, its own redis-server as broker, all on free loopback ports. The
campaigns are real CSV campaigns (uploaded, imported, confirmed through the API) of the
real-sized mail of `bench/workload.py`. `--tree` runs another checkout of the project (e.g. `git
worktree add /tmp/base <commit>`) by this harness, with this workload, for a before and after.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.csv_campaign import BIN, PY, Stack, wait_port, write_csv  # noqa: E402
from dashboard.ops.local_stack import (  # noqa: E402
    DEFAULT_LANES,
    beat_command,
    process_env,
    worker_command,
)

SPACING_SECONDS = 0.25


class LaneStack(Stack):
    """The csv_campaign bench's stack with the timing sink, the default lanes and beat."""

    def __init__(self, tmp: Path, settings: dict[str, str], root: Path = ROOT) -> None:
        super().__init__(tmp, root=root)
        self.settings = settings
        self.times_path = tmp / "mail-from-times.txt"
        self.lane_processes: list = []

    def start_base(self) -> None:
        self.redis = self.spawn(
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            "redis.log",
        )
        self.sink = self.spawn(
            [PY, str(ROOT / "bench" / "timing_sink.py"), str(self.sink_port), str(self.times_path)],
            "sink.log",
        )
        wait_port(self.redis_port)
        wait_port(self.sink_port)

    def project_env(self) -> dict[str, str]:
        return {**super().project_env(), **self.settings}

    def start_project(self) -> None:
        env = self.project_env()
        self.flask("db", "upgrade")
        password = uuid.uuid4().hex
        self.flask("create-admin", "--email", "bench@example.com", "--password", password)
        created = self.flask("tokens", "create", "--user", "bench@example.com", "--name", "bench")
        self.token = created.strip().splitlines()[-1]
        logs = []
        for lane in DEFAULT_LANES:
            log = f"{lane.name}.log"
            logs.append(self.tmp / log)
            self.workers.append(
                self.spawn(
                    worker_command(
                        concurrency=lane.concurrency,
                        queues=lane.queues,
                        hostname=f"{lane.name}-{uuid.uuid4().hex[:6]}@%h",
                        mingle_and_gossip=False,
                    ),
                    log,
                    env,
                )
            )
        self.spawn(beat_command(schedule=self.tmp / "beat-schedule"), "beat.log", env)
        self.web = self.spawn(
            [
                str(BIN / "gunicorn"),
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "wsgi:app",
            ],
            "web.log",
            process_env(env),
        )
        wait_port(self.web_port)
        deadline = time.monotonic() + 120
        for log in logs:
            while b" ready." not in log.read_bytes():
                if time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)

    def mail_from_times(self) -> dict[str, float]:
        if not self.times_path.exists():
            return {}
        found = {}
        for line in self.times_path.read_text().splitlines():
            address, _, at = line.partition(" ")
            found.setdefault(address, float(at))
        return found

    def post_single(self, address: str) -> float:
        """POST one email; return when its 202 arrived (epoch seconds)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=60)
        body = json.dumps(
            {"to": address, "subject": "Mã đặt lại mật khẩu", "text": "Mã của bạn: 482913"}
        )
        connection.request(
            "POST",
            "/api/v1/emails",
            body=body.encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        accepted_at = time.time()
        connection.close()
        if response.status != 202:
            raise SystemExit(f"POST /api/v1/emails: {response.status}")
        return accepted_at

    def start_campaign(self, count: int) -> int:
        csv_path = self.tmp / f"campaign-{count}.csv"
        write_csv(csv_path, count)
        campaign_id = self.upload(csv_path)
        status = self.wait_import(campaign_id)
        assert status["import"]["valid"] == count, status["import"]
        self.request("POST", f"/api/v1/campaigns/{campaign_id}/confirm")
        return campaign_id

    def sent_of(self, campaign_id: int) -> int:
        return self.request("GET", f"/api/v1/campaigns/{campaign_id}")["counts"]["sent"]


def measure(stack: LaneStack, label: str, singles: int) -> list[float]:
    """Post `singles` emails, one every SPACING_SECONDS; their 202 → MAIL FROM, in seconds."""
    accepted = {}
    for n in range(singles):
        address = f"probe-{label}-{n}@example.com"
        accepted[address] = stack.post_single(address)
        time.sleep(SPACING_SECONDS)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen = stack.mail_from_times()
        if all(address in seen for address in accepted):
            return [seen[address] - at for address, at in accepted.items()]
        time.sleep(0.2)
    raise SystemExit(f"{label}: not every single email reached the sink in time")


def wait_until_sending(stack: LaneStack, campaign_id: int, at_least: int) -> None:
    deadline = time.monotonic() + 600
    while stack.sent_of(campaign_id) < at_least:
        if time.monotonic() > deadline:
            raise SystemExit("the campaign did not start sending")
        time.sleep(0.5)


def summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
    return statistics.median(ordered), p99, ordered[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign", type=int, default=100_000, help="fast campaign's size")
    parser.add_argument("--limited", type=int, default=3000, help="rate-limited campaign's size")
    parser.add_argument("--rate", type=float, default=50, help="RATE_LIMIT_PER_SECOND")
    parser.add_argument("--singles", type=int, default=40, help="single emails per situation")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run")
    args = parser.parse_args()
    tree = args.tree.resolve()
    if not (tree / "celery_worker.py").exists():
        parser.error(f"{tree} is not a checkout of this project")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lane-bench-") as tmp:
        stack = LaneStack(Path(tmp) / "fast", {}, tree)
        stack.tmp.mkdir()
        stack.start_base()
        try:
            stack.start_project()
            rows.append(("no campaign running", measure(stack, "idle", args.singles), ""))
            campaign = stack.start_campaign(args.campaign)
            wait_until_sending(stack, campaign, 1000)
            before = stack.sent_of(campaign)
            latencies = measure(stack, "fast", args.singles)
            during = stack.sent_of(campaign) - before
            assert during < args.campaign, "the campaign ended before the measurement did"
            rows.append(
                (
                    f"during a {args.campaign:,}-recipient campaign, no rate limit",
                    latencies,
                    f"{during:,} campaign messages sent meanwhile",
                )
            )
        finally:
            stack.stop()
        limited_settings = {"RATE_LIMIT_PER_SECOND": f"{args.rate:g}"}
        limited = LaneStack(Path(tmp) / "limited", limited_settings, tree)
        limited.tmp.mkdir()
        limited.start_base()
        try:
            limited.start_project()
            campaign = limited.start_campaign(args.limited)
            wait_until_sending(limited, campaign, int(args.rate * 2))
            before = limited.sent_of(campaign)
            latencies = measure(limited, "limited", args.singles)
            during = limited.sent_of(campaign) - before
            rows.append(
                (
                    f"during a {args.limited:,}-recipient campaign at {args.rate:g} msgs/s",
                    latencies,
                    f"{during:,} campaign messages sent meanwhile",
                )
            )
        finally:
            limited.stop()
    header = f"{'situation':<58} {'p50':>8} {'p99':>8} {'max':>8}"
    print(f"{header}  (202 → MAIL FROM, n={args.singles})")
    for label, latencies, note in rows:
        p50, p99, worst = summary(latencies)
        print(f"{label:<58} {p50 * 1000:6.0f}ms {p99 * 1000:6.0f}ms {worst * 1000:6.0f}ms  {note}")


if __name__ == "__main__":
    main()
