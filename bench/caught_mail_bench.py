"""How fast the Caught mail list answers at 100,000 caught messages.

Seeds N caught messages (each a real ~1.5 KB MIME message with a 20 KB attachment, the fields
the catcher stores beside it) into SQLite and PostgreSQL, built by the project's migrations,
then times through the Flask app (routing, queries, template: the server's time, no network)
the first page, a deep page (by its keyset cursor), and searches: one match, about a thousand,
every message (first and a deep page), a Vietnamese phrase, and a two-letter word (shorter
than the trigram index serves). A search's time includes its count (exact up to 10,000, then
"more than"). Prints the median and p95 of each.

    .venv/bin/python bench/caught_mail_bench.py                       # both databases
    .venv/bin/python bench/caught_mail_bench.py --backends sqlite --messages 100000 --runs 20
    .venv/bin/python bench/caught_mail_bench.py --keep-sqlite /tmp/c.db --keep-postgres caught100k
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-instance-"))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

from bench.history_bench import build_app, measure  # noqa: E402
from dashboard.auth.accounts import create_user, find_user  # noqa: E402
from dashboard.extensions import db  # noqa: E402
from dashboard.models import CaughtMail  # noqa: E402
from dashboard.ops.caught_mail import caught_fields, searchable  # noqa: E402

CHUNK = 5_000


def sample_raw() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Cửa hàng <shop@example.vn>"
    mail["To"] = "Khách hàng <kh@example.vn>"
    mail["Subject"] = "Đơn hàng của bạn đã được giao"
    mail.set_content("Cảm ơn bạn đã mua hàng.\n" * 20)
    mail.add_attachment(os.urandom(20_000), "application", "pdf", filename="hoá đơn.pdf")
    return mail.as_bytes()


def load(app: Flask, messages: int) -> None:
    raw = sample_raw()
    with app.app_context():
        for start in range(0, messages, CHUNK):
            rows = []
            for i in range(start, min(start + CHUNK, messages)):
                to = [f"kh{i:06d}@example.vn"]
                fields = caught_fields(raw, "shop@example.vn", to)
                fields["subject"] = (
                    f"Hoá đơn {i} của bạn đã được giao"  # one in a hundred
                    if i % 100 == 0
                    else f"Đơn hàng {i} của bạn đã được giao"
                )
                fields["to_header"] = f"Khách hàng {i} <{to[0]}>"
                fields["search_text"] = searchable(
                    "\n".join([fields["subject"], fields["from_header"], fields["to_header"], *to])
                )
                rows.append(
                    {"mail_from": "shop@example.vn", "rcpt_tos": json.dumps(to), "raw": raw}
                    | fields
                )
            db.session.execute(insert(CaughtMail), rows)
            db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                text("ANALYZE" if db.engine.dialect.name == "sqlite" else "VACUUM ANALYZE")
            )


def signed_in_client(app: Flask) -> FlaskClient:
    """A client with an admin's session (the admin made once, so a kept database is reused)."""
    with app.app_context():
        email = "bench@example.vn"
        user = find_user(email) or create_user(email, "a long enough bench password", role="admin")
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    app = build_app(url)
    with app.app_context():
        present = db.session.scalar(text("SELECT count(*) FROM caught_mail"))
    if present == args.messages:  # a kept database seeded by an earlier run
        print(f"{name}: reusing {present:,} caught messages", flush=True)
    elif present:
        raise SystemExit(f"{name}: the kept database holds {present:,} caught messages")
    else:
        started = time.perf_counter()
        load(app, args.messages)
        seconds = time.perf_counter() - started
        print(f"{name}: seeded {args.messages:,} in {seconds:.0f} s", flush=True)
    with app.app_context():
        ids = [row[0] for row in db.session.execute(text("SELECT id FROM caught_mail ORDER BY id"))]
    deep = ids[len(ids) // 10]  # page 1,800 of 2,000 at 100,000
    views = [
        ("page 1", "/outbox/"),
        (f"deep page (before={deep})", f"/outbox/?before={deep}"),
        ("search, one match (To address)", f"/outbox/?q=kh{args.messages // 2:06d}@"),
        ("search, ~1,100 match (đơn hàng 77)", "/outbox/?q=đơn+hàng+77"),
        ("search, 1 in 100 match (HOÁ ĐƠN)", "/outbox/?q=HOÁ+ĐƠN"),
        ("search, every row matches", "/outbox/?q=giao"),
        ("search, every row, deep page", f"/outbox/?q=giao&before={deep}"),
        ("search, two letters, no match (zq)", "/outbox/?q=zq"),
    ]
    client = signed_in_client(app)
    results = {}
    for label, url_path in views:
        results[label] = measure(client, url_path, args.runs)
        print(
            f"{name}: {label:34} median {results[label][0]:7.1f} ms  p95 {results[label][1]:7.1f}"
        )
    with app.app_context():
        db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--keep-sqlite", help="keep the SQLite file here and reuse it")
    parser.add_argument("--keep-postgres", help="keep this PostgreSQL database and reuse it")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {}
    if "sqlite" in args.backends:
        if args.keep_sqlite:
            results["SQLite"] = run_backend("SQLite", f"sqlite:///{args.keep_sqlite}", args)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-caught-") as folder:
                results["SQLite"] = run_backend("SQLite", f"sqlite:///{folder}/bench.db", args)
    if "postgresql" in args.backends:
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        name = args.keep_postgres or f"bench_caught_{os.getpid()}"
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            results["PostgreSQL"] = run_backend("PostgreSQL", url, args)
        finally:
            if not args.keep_postgres:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    names = list(results)
    print(f"\n{args.messages:,} caught messages, {args.runs} runs; ms")
    print("| view | " + " | ".join(f"{n} median | {n} p95" for n in names) + " |")
    print("|---|" + "---:|" * (2 * len(names)))
    for label in next(iter(results.values())):
        cells = " | ".join(
            f"{results[n][label][0]:.1f} | {results[n][label][1]:.1f}" for n in names
        )
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
