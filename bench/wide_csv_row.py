"""Benchmark: the peak memory of importing a CSV whose one data row is very wide (issue 16: a
50 MB row of 50,000,000 commas took the import worker from 110 MB to 575 MB).

    .venv/bin/python bench/wide_csv_row.py [--mb 50]

Each run is a fresh process (so its peak RSS is the import's alone) on a temporary SQLite
database, with an in-memory broker (the import is run in the process, no worker needed). It
prints the process's peak RSS (VmHWM) once the app is up and the file stored, and after the
import, with the import's outcome.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(csv_path: Path, workdir: Path) -> None:
    from dashboard import create_app
    from dashboard.campaigns.importer import run_import
    from dashboard.campaigns.upload import CampaignContent, create_csv_campaign
    from dashboard.config import celery_settings, engine_options
    from dashboard.extensions import db
    from dashboard.mail.addresses import Mailbox
    from dashboard.models import CsvImport

    url = f"sqlite:///{workdir / 'bench.db'}"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-" + "x" * 40,
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
            "CELERY": celery_settings("memory://", "cache+memory://"),
        }
    )
    with app.app_context():
        db.create_all()
        content = CampaignContent(
            subject="Chào {{ name }}",
            text="Thư cho {{ email }}",
            html=None,
            sender=Mailbox("bench@example.com", ""),
        )
        with csv_path.open("rb") as upload:
            campaign = create_csv_campaign(
                upload, filename=csv_path.name, content=content, source="api"
            )
        import_id = db.session.query(CsvImport.id).filter_by(campaign_id=campaign.id).scalar()
        db.session.commit()
        before = peak_rss_mb()
        started = time.monotonic()
        status = run_import(import_id)
        elapsed = time.monotonic() - started
        after = peak_rss_mb()
        error = db.session.get(CsvImport, import_id).error or ""
    print(f"peak RSS before the import: {before:.0f} MB; after: {after:.0f} MB")
    print(f"import: {status} in {elapsed:.1f} s; {error[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50, help="size of the wide row, in MB")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "wide.csv"
        with path.open("wb") as out:
            out.write(b"email,name\r\nan@example.com,An\r\nbinh@example.com")
            out.write(b"," * (args.mb * 1024 * 1024))
            out.write(b"\r\n")
        print(f"{path.stat().st_size / 1024 / 1024:.0f} MB CSV, one row of {args.mb}M commas")
        subprocess.run(
            [sys.executable, __file__, "--child", str(path), workdir], check=True, cwd=ROOT
        )


if __name__ == "__main__":
    main()
