"""CPU per campaign message in the worker's send path, split by part, on real-sized mail.

    .venv/bin/python bench/send_batch_cpu.py                       # 20,000 messages, SQLite
    .venv/bin/python bench/send_batch_cpu.py --postgres            # PostgreSQL instead
    .venv/bin/python bench/send_batch_cpu.py --compare /tmp/base   # beside another checkout

Each run seeds `--count` personalised Vietnamese campaign messages (subject, text and HTML
bodies of about 1.5 and 2 KB with name and city merged, List-Unsubscribe) into a fresh
database, then runs `send_batch` in this process, batch after batch as a bulk worker gets them,
against Postfix's `smtp-sink` on a free loopback port. It prints the process's CPU per message
(`time.process_time`), split into the parts of the path: the claim, rendering, the SMTP
session, writing outcomes, logging (every record the `logging` module makes and writes, to a
file at INFO as a worker's), the lease renewals and rate-limit calls, and the rest.

With `--compare`, each checkout runs in its own subprocess, alternating, `--rounds` times, and
the medians are printed side by side. Redis (rate limit, holds) is the machine's, db
`--redis-db`; a PostgreSQL run makes its own database and drops it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("claim", "render", "smtp", "outcomes", "logging", "lease+limit", "other")
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

CITIES = ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ", "Hải Phòng", "Nha Trang", "Vũng Tàu", "Đà Lạt"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
GIVEN = ["Văn An", "Thị Bình", "Minh Châu", "Quốc Dũng", "Thu Hà", "Đức Huy", "Ngọc Lan"]
SUBJECT = "{{ name }} ơi, ưu đãi tháng này dành riêng cho bạn ở {{ city }}"
PARAGRAPH = (
    "Chúng tôi xin gửi lời cảm ơn chân thành vì bạn đã đồng hành cùng cửa hàng trong suốt thời "
    "gian qua. Tháng này, khách hàng thân thiết ở {{ city }} được giảm giá đến ba mươi phần trăm "
    "cho các sản phẩm mùa hè, miễn phí vận chuyển cho đơn hàng từ năm trăm nghìn đồng."
)
TEXT = (
    "Kính gửi {{ name }},\n\n"
    + "\n\n".join([PARAGRAPH] * 4)
    + "\n\nTrân trọng,\nĐội ngũ chăm sóc khách hàng\n\n"
    "Hủy đăng ký: {{ unsubscribe_url }}\n"
)
HTML = (
    "<html><body><h1>Xin chào {{ name }}</h1>\n"
    + "\n".join(f'<p style="font-size:14px">{PARAGRAPH}</p>' for _ in range(4))
    + '\n<p><a href="https://shop.example.vn/uu-dai">Xem ưu đãi ở {{ city }}</a></p>'
    '\n<p><a href="{{ unsubscribe_url }}">Hủy đăng ký</a></p></body></html>'
)


# --- the child: one measured run of one checkout ----------------------------------------------
class Parts:
    """Exclusive CPU time per part: a part's time leaves out the parts called inside it."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        frame = [name, 0.0]
        self.stack.append(frame)
        started = time.process_time()
        try:
            yield
        finally:
            elapsed = time.process_time() - started
            self.stack.pop()
            self.spent[name] += elapsed - frame[1]
            if self.stack:
                self.stack[-1][1] += elapsed

    def wrap(self, name: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.part(name):
                return function(*args, **kwargs)

        return timed

    def wrap_generator(self, name: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            inner = function(*args, **kwargs)
            try:
                while True:
                    with self.part(name):
                        try:
                            item = next(inner)
                        except StopIteration:
                            return
                    yield item
            finally:
                with self.part(name):
                    inner.close()

        return timed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_sink() -> Iterator[int]:
    port = free_port()
    sink = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "256"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("smtp-sink did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        sink.terminate()
        sink.wait(10)


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    def admin(statement: sql.Composable) -> None:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(statement)

    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
            + f"/{name}"
        )
    finally:
        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed(count: int) -> None:
    from dashboard.extensions import db
    from dashboard.models import Campaign, Message, utcnow

    now = utcnow()
    campaign = Campaign(
        source="csv",
        queue="bulk",
        from_address="tin-tuc@shop.example.vn",
        from_name="Cửa hàng Ví dụ",
        subject=SUBJECT,
        text_body=TEXT,
        html_body=HTML,
        merge=True,
    )
    db.session.add(campaign)
    db.session.flush()
    rows = []
    for i in range(count):
        name = f"{FAMILY[i % len(FAMILY)]} {GIVEN[i % len(GIVEN)]}"
        rows.append(
            {
                "campaign_id": campaign.id,
                "to_address": f"khach{i}@example.com",
                "to_name": name,
                "status": "queued",
                "attempts": 0,
                "message_id_header": f"<bench-{i}@shop.example.vn>",
                "created_at": now,
                "updated_at": now,
                "merge_data": json.dumps(
                    {"name": name, "city": CITIES[i % len(CITIES)]}, ensure_ascii=False
                ),
            }
        )
    db.session.execute(Message.__table__.insert(), rows)
    db.session.commit()


def child(args: argparse.Namespace) -> None:
    tree = Path(args.tree).resolve()
    sys.path.insert(0, str(tree))
    tmp = Path(tempfile.mkdtemp(prefix="send-cpu-"))
    with (
        smtp_sink() as port,
        contextmanager(database_for)(args, tmp) as url,
        removed_after(tmp),
    ):
        from dashboard.ops.local_stack import loopback_settings

        redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
        os.environ.update(
            loopback_settings(
                instance_dir=tmp,
                database_url=url,
                broker_url=redis_url,
                redis_url=redis_url,
                mail_port=port,
                secret_key="bench-secret-key-bench-secret-key",
            )
        )
        report = run(args, tree, tmp / "worker.log")
    print(json.dumps(report))


@contextmanager
def removed_after(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def database_for(args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    if args.postgres:
        with postgres_database(f"bench_send_cpu_{os.getpid()}") as url:
            yield url
    else:
        yield f"sqlite:///{tmp / 'bench.db'}"


def worker_logging(path: Path) -> None:
    """A worker's log: INFO lines written to a file, in the worker's format (the migration's
    logging set-up, which turns off the loggers that exist, is undone)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


def run(args: argparse.Namespace, tree: Path, log_path: Path) -> dict[str, Any]:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    import dashboard.sending.accounts.delivery as delivery
    import dashboard.tasks as tasks
    from dashboard import create_app
    from dashboard.extensions import db
    from dashboard.mail.rate_limit import RateLimiter
    from dashboard.models import DeliveryAttempt, Message
    from dashboard.sending.leases import Lease

    app = create_app({"BULK_BATCH_SIZE": args.batch_size})
    with app.app_context():
        upgrade(directory=str(tree / "migrations"))
        seed(args.count)
        ids = list(db.session.scalars(select(Message.id).order_by(Message.id)))
        db.session.rollback()
    worker_logging(log_path)

    parts = Parts()
    tasks.claim_batch = parts.wrap("claim", tasks.claim_batch)
    tasks.prepare_batch = parts.wrap("render", tasks.prepare_batch)
    tasks._Report.flush = parts.wrap("outcomes", tasks._Report.flush)
    delivery.deliver_batch = parts.wrap_generator("smtp", delivery.deliver_batch)
    RateLimiter._ask = parts.wrap("lease+limit", RateLimiter._ask)
    Lease.renew = parts.wrap("lease+limit", Lease.renew)
    logging.Logger._log = parts.wrap("logging", logging.Logger._log)

    started_cpu, started = time.process_time(), time.monotonic()
    with parts.part("other"):
        for _ in range(10):  # a batch whose time slice ran out leaves rows queued: again
            for start in range(0, len(ids), args.batch_size):
                batch = ids[start : start + args.batch_size]
                tasks.send_batch.apply(args=[batch], routing_key="bulk")
            with app.app_context():
                ids = list(
                    db.session.scalars(
                        select(Message.id).where(Message.status == "queued").order_by(Message.id)
                    )
                )
                db.session.rollback()
            if not ids:
                break
    cpu, wall = time.process_time() - started_cpu, time.monotonic() - started
    with app.app_context():
        sent = db.session.scalar(select(func.count()).where(Message.status == "sent"))
        attempts = db.session.scalar(select(func.count()).select_from(DeliveryAttempt))
        db.session.remove()
        db.engine.dispose()
    if sent != args.count or attempts != args.count:
        raise SystemExit(f"{sent} sent and {attempts} attempts of {args.count}")
    per = 1e6 / args.count
    return {
        "tree": str(tree),
        "count": args.count,
        "cpu_us": cpu * per,
        "msgs_per_s": args.count / wall,
        **{name: parts.spent[name] * per for name in PARTS},
    }


# --- the parent: checkouts side by side ----------------------------------------------------------
def measure(tree: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", "--tree", tree, "--count", str(args.count),
        "--batch-size", str(args.batch_size), "--redis-db", str(args.redis_db),
    ]  # fmt: skip
    if args.postgres:
        command.append("--postgres")
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise SystemExit(f"run of {tree} failed:\n{done.stdout}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--compare", action="append", default=[], help="another checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    trees = [str(ROOT), *args.compare]
    runs: dict[str, list[dict[str, Any]]] = {tree: [] for tree in trees}
    for round_ in range(args.rounds):
        order = trees if round_ % 2 == 0 else trees[::-1]
        for tree in order:
            result = measure(tree, args)
            runs[tree].append(result)
            print(f"round {round_ + 1} {tree}: {result['cpu_us']:.0f} µs/msg", flush=True)
    engine = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\n{args.count} messages, {engine}, medians of {args.rounds} rounds (µs CPU a message)")
    columns = ["cpu_us", *PARTS, "msgs_per_s"]
    print(f"{'checkout':<28}" + "".join(f"{c:>12}" for c in columns))
    for tree in trees:
        medians = [statistics.median(r[c] for r in runs[tree]) for c in columns]
        print(f"{tree[-28:]:<28}" + "".join(f"{m:>12.1f}" for m in medians))


if __name__ == "__main__":
    main()
