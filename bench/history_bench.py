"""How fast the history and statistics pages answer at a million messages.

Seeds 1,000,000 messages across 200 campaigns and 30 days (with their delivery attempts) into
SQLite and into PostgreSQL, builds the schema with the project's own migrations, then times each
view through the Flask app (routing, queries and template rendering: the server's time, without
a network) and prints the median and p95 of each, side by side.

    .venv/bin/python bench/history_bench.py                      # both databases
    .venv/bin/python bench/history_bench.py --backends sqlite --messages 100000
    BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres ...

For PostgreSQL it creates a database of its own (bench_history_<pid>) and drops it afterwards.
Targets: history pages under 50 ms, statistics under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-instance-"))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from dashboard import create_app  # noqa: E402
from dashboard.auth.accounts import create_user  # noqa: E402
from dashboard.config import engine_options  # noqa: E402
from dashboard.extensions import db  # noqa: E402
from dashboard.sending.sent_counts import recount_from_rows  # noqa: E402

DOMAINS = ["example.vn", "gmail.com", "yahoo.com", "outlook.com", "fpt.vn", "vnpt.vn"]
FAILURES = [(550, "5.1.1 Recipient address rejected"), (554, "5.7.1 Message rejected as spam")]
FAILURES += [(552, "5.2.2 Mailbox full"), (421, "4.7.0 Too many connections, retries used up")]
# Share of each outcome among the seeded messages (the rest are sent).
SHARES = [("failed", 0.04), ("cancelled", 0.02), ("queued", 0.015), ("scheduled", 0.01)]
SHARES += [("retrying", 0.01), ("sending", 0.005)]
MESSAGE_COLUMNS = [
    *("id", "campaign_id", "to_address", "to_name", "status", "attempts", "last_code"),
    *("last_reply", "message_id_header", "task_id", "created_at", "claimed_at"),
    *("next_attempt_at", "sent_at", "updated_at"),
]
ATTEMPT_COLUMNS = [
    *("message_id", "outcome", "smtp_code", "smtp_reply", "worker", "task_id", "duration_ms"),
    "finished_at",
]
PAGE_SIZE = 50


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def seed_rows(
    messages: int, campaigns: int, days: int
) -> tuple[list[tuple], Iterator[tuple[list[tuple], list[tuple]]]]:
    """Campaign rows, and message and attempt rows in chunks, oldest first (ids follow time)."""
    rng = random.Random(5)
    now = utc_now()
    span = timedelta(days=days) - timedelta(hours=2)
    starts = sorted(now - span + span * rng.random() for _ in range(campaigns))
    campaign_rows = [
        (
            cid,
            "csv",
            "bulk",
            "news@example.vn",
            "Bản tin",
            f"Bản tin số {cid}: ưu đãi tháng này",
            "Kính gửi quý khách,\nƯu đãi tháng này dành cho bạn.",
            "<p>Kính gửi quý khách,</p><p>Ưu đãi tháng này dành cho bạn.</p>",
            start,
        )
        for cid, start in enumerate(starts, start=1)
    ]

    def chunks() -> Iterator[tuple[list[tuple], list[tuple]]]:
        per_campaign = messages // campaigns
        message_id = 0
        for cid, start in enumerate(starts, start=1):
            rate = rng.choice([10, 20, 40])  # messages per second while it was sent
            batch: list[tuple] = []
            attempts: list[tuple] = []
            for i in range(per_campaign if cid < campaigns else messages - message_id):
                message_id += 1
                created = start + timedelta(microseconds=200 * i)
                done = start + timedelta(seconds=5 + i / rate)
                roll, status = rng.random(), "sent"
                for name, share in SHARES:
                    if roll < share:
                        status = name
                        break
                    roll -= share
                domain = DOMAINS[message_id % len(DOMAINS)]
                code, reply, tries, sent_at = None, None, 0, None
                if status == "sent":
                    code, reply, sent_at = 250, "2.0.0 Ok: queued", done
                    tries = 2 if rng.random() < 0.05 else 1
                    if tries == 2 and rng.random() < 0.04:  # sent, then sent again: a duplicate
                        attempts.append((message_id, "sent", 250, reply, "w1", None, 80, done))
                    elif tries == 2:
                        attempts.append(
                            (message_id, "transient", 451, "4.3.0 Try later", "w1", None, 90, done)
                        )
                    attempts.append((message_id, "sent", 250, reply, "w2", None, 70, done))
                elif status == "failed":
                    code, reply = FAILURES[message_id % len(FAILURES)]
                    tries = 1
                    attempts.append((message_id, "permanent", code, reply, "w1", None, 60, done))
                elif status in ("cancelled", "queued", "scheduled"):
                    done = created
                else:
                    tries = 1
                batch.append(
                    (
                        message_id,
                        cid,
                        f"kh{message_id:07d}@{domain}",
                        f"Khách hàng {message_id}",
                        status,
                        tries,
                        code,
                        reply,
                        f"<{message_id}.bench@example.vn>",
                        None,
                        created,
                        done if tries else None,
                        None,
                        sent_at,
                        done,
                    )
                )
            yield batch, attempts

    return campaign_rows, chunks()


@contextmanager
def secondary_indexes_dropped(app: Flask) -> Iterator[None]:
    """Load into bare tables, then build the migrations' indexes once (much faster)."""
    with app.app_context(), db.engine.begin() as conn:
        if db.engine.dialect.name == "sqlite":
            found = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
            ).all()
        else:
            found = conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public' "
                    "AND tablename <> 'alembic_version' "
                    # Primary keys and unique constraints keep their own indexes.
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
                )
            ).all()
        for name, _ in found:
            conn.execute(text(f'DROP INDEX "{name}"'))
    yield
    with app.app_context():
        with db.engine.begin() as conn:
            for _, ddl in found:
                conn.execute(text(ddl))
        # What autovacuum does to settled rows: statistics for the planner and, in PostgreSQL,
        # the visibility map that lets index-only scans skip the table.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if db.engine.dialect.name == "sqlite":
                conn.execute(text("ANALYZE"))
            else:  # and the load's dirty pages written now, not during the timings
                conn.execute(text("VACUUM ANALYZE"))
                conn.execute(text("CHECKPOINT"))


def load(app: Flask, messages: int, campaigns: int, days: int) -> None:
    campaign_rows, chunks = seed_rows(messages, campaigns, days)
    campaign_sql = (
        "INSERT INTO campaign (id, source, queue, from_address, from_name, subject, text_body, "
        "html_body, created_at) VALUES ({})"
    )
    with secondary_indexes_dropped(app), app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if db.engine.dialect.name == "sqlite":
                cursor.executemany(campaign_sql.format(",".join("?" * 9)), campaign_rows)
                m_sql = f"INSERT INTO message ({','.join(MESSAGE_COLUMNS)}) VALUES "
                m_sql += f"({','.join('?' * len(MESSAGE_COLUMNS))})"
                a_sql = f"INSERT INTO delivery_attempt ({','.join(ATTEMPT_COLUMNS)}) VALUES "
                a_sql += f"({','.join('?' * len(ATTEMPT_COLUMNS))})"
                for batch, attempts in chunks:
                    cursor.executemany(m_sql, [sqlite_row(row) for row in batch])
                    cursor.executemany(a_sql, [sqlite_row(row) for row in attempts])
            else:
                cursor.executemany(campaign_sql.format(",".join(["%s"] * 9)), campaign_rows)
                with cursor.copy(
                    f"COPY message ({','.join(MESSAGE_COLUMNS)}) FROM STDIN"
                ) as m_copy:
                    pending_attempts = []
                    for batch, attempts in chunks:
                        for row in batch:
                            m_copy.write_row(row)
                        pending_attempts.extend(attempts)
                with cursor.copy(
                    f"COPY delivery_attempt ({','.join(ATTEMPT_COLUMNS)}) FROM STDIN"
                ) as a_copy:
                    for row in pending_attempts:
                        a_copy.write_row(row)
                for table in ("campaign", "message", "delivery_attempt"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
            raw.commit()
        finally:
            raw.close()
    # The rows went in around the outcome handler, so count their hours as the migration does
    # for rows that exist before it.
    with app.app_context():
        recount_from_rows()
        db.session.commit()


def sqlite_row(row: tuple) -> tuple:
    # SQLAlchemy's own text form of a datetime in SQLite, so the app reads these rows as its own.
    return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)


def build_app(url: str) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def views(app: Flask) -> list[tuple[str, str]]:
    """The views the issue names, with their URLs worked out from the seeded data (untimed)."""
    with app.app_context(), db.engine.connect() as conn:
        sent = conn.execute(text("SELECT count(*) FROM message WHERE status='sent'")).scalar()
        # The cursor that opens page 5,000 (or the last page of a smaller seed).
        deep = conn.execute(
            text("SELECT id FROM message WHERE status='sent' ORDER BY id DESC LIMIT 1 OFFSET :n"),
            {"n": min(PAGE_SIZE * 4999, sent) - 1},
        ).scalar()
        failed = conn.execute(
            text("SELECT min(id) FROM message WHERE status='failed' AND id > :middle"),
            {"middle": sent // 2},
        ).scalar()
    return [
        ("history, first page", "/history/"),
        ("history, page 5,000 (status=sent)", f"/history/?status=sent&before={deep}"),
        ("history, recipient search", "/history/?recipient=kh04213"),
        ("message detail", f"/history/{failed}"),
        ("statistics, 30 days", "/stats/?range=30d"),
        ("GET /api/v1/stats, 30 days", "/api/v1/stats?range=30d"),
        # The same counted in a person's own days: a fixed offset, a clock change, half hours.
        ("stats API, 30 days, Asia/Ho_Chi_Minh", "/api/v1/stats?range=30d&zone=Asia/Ho_Chi_Minh"),
        ("stats API, 90 days, UTC", "/api/v1/stats?range=90d"),
        ("stats API, 90 days, Europe/Berlin", "/api/v1/stats?range=90d&zone=Europe/Berlin"),
        ("stats API, 30 days, Asia/Kolkata", "/api/v1/stats?range=30d&zone=Asia/Kolkata"),
    ]


def signed_in_client(app: Flask) -> FlaskClient:
    """A client with a signed-in user's session, as Flask-Login keeps it after /login."""
    with app.app_context():
        user = create_user("bench@example.vn", "a long enough bench password", role="admin")
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


def measure(client: FlaskClient, url: str, runs: int) -> tuple[float, float]:
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def run_backend(
    name: str, url: str, args: argparse.Namespace, report: Callable[[str], None]
) -> dict[str, tuple[float, float]]:
    app = build_app(url)
    started = time.perf_counter()
    load(app, args.messages, args.campaigns, args.days)
    report(f"{name}: seeded {args.messages:,} messages in {time.perf_counter() - started:.0f} s")
    results = {}
    client = signed_in_client(app)
    for label, view in views(app):
        results[label] = measure(client, view, args.runs)
        report(
            f"{name}: {label:36} median {results[label][0]:7.1f} ms  p95 {results[label][1]:7.1f}"
        )
    with app.app_context():
        db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a server where the bench may create and drop its own database",
    )
    args = parser.parse_args()

    def report(line: str) -> None:
        print(line, flush=True)

    results: dict[str, dict[str, tuple[float, float]]] = {}
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            results["SQLite"] = run_backend("SQLite", url, args, report)
    if "postgresql" in backends:
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        name = f"bench_history_{os.getpid()}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            results["PostgreSQL"] = run_backend("PostgreSQL", url, args, report)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    names = list(results)
    print()
    print(f"{args.messages:,} messages, {args.campaigns} campaigns, {args.days} days; ms")
    header = "| view | " + " | ".join(f"{n} median | {n} p95" for n in names) + " |"
    print(header)
    print("|---|" + "---:|" * (2 * len(names)))
    for label in next(iter(results.values())):
        cells = " | ".join(
            f"{results[n][label][0]:.1f} | {results[n][label][1]:.1f}" for n in names
        )
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
