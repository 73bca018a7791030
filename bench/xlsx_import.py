"""A 1,000,000-row .xlsx imported end to end by the product, beside the same rows as a CSV:
rows/s and the import's peak memory.

    .venv/bin/python bench/xlsx_import.py [--rows 1000000] [--rounds 3] [--keep PATH]
    .venv/bin/python bench/xlsx_import.py --excel-layout --keep /tmp/1m-excel.xlsx

The workbook is `bench/xlsx_readers.py`'s (Vietnamese names, a phone column stored as numbers,
dates, a company empty in one row in five; openpyxl's write-only mode, so its strings are
inline and it has no `<dimension>`, unlike Excel's; with `--excel-layout`, the same rows as
Excel lays them out: `write_excel_layout`); the CSV holds the same rows as the text
a person sees, in UTF-8. `--keep PATH` keeps
the workbook at PATH (and the CSV at PATH.csv) and reuses them on the next run.

Each run goes through the product's own path, on a fresh copy of a migrated SQLite database:
`create_csv_campaign` (what the upload form and the API call: the layout checked, the file
stored in chunks) in one child process, then `run_import` (what the worker's import task runs:
the rows read, checked and inserted as draft messages) in another, so the peak RSS (VmHWM)
printed is the import's own. The task the upload publishes goes to an in-memory broker and is
dropped; the import is run directly instead. Every run checks that the import ended `ready`
with exactly `--rows` messages. Runs alternate xlsx and CSV; medians of `--rounds` are printed,
with the import's CPU time beside its wall time (on a shared machine the CPU time says what the
import costs; the wall time, what others left of the cores).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.xlsx_readers import FAMILY, GIVEN, write_excel_layout, write_workbook  # noqa: E402

SUBJECT = "Chào {{ họ_và_tên }}"
TEXT = "Kính gửi {{ họ_và_tên }} ({{ công_ty }}),\n\nThư mời dành riêng cho bạn.\n"


def write_csv(path: Path, rows: int) -> None:
    """The rows `write_workbook` writes, as the text a person sees in the sheet."""
    born = dt.date(1990, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(["Email", "Họ và tên", "Điện thoại", "Ngày sinh", "Công ty"])
        for i in range(rows):
            out.writerow(
                [
                    f"kh{i}@example.vn",
                    f"{FAMILY[i % 10]} {GIVEN[i % 7]} {i}",
                    str(84_900_000_000 + i),
                    (born + dt.timedelta(days=i % 9000)).isoformat(),
                    "" if i % 5 == 0 else f"Công ty {i % 1000}",
                ]
            )


def cpu_seconds() -> float:
    """This process's CPU time so far (user and system): on a shared machine, what the work
    cost, whatever the others took of the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_app(database: Path):  # -> Flask, imported late: the parent never loads the app
    os.environ["CELERY_BROKER_URL"] = "memory://"  # the published import task is dropped
    from dashboard import create_app
    from dashboard.config import engine_options

    url = f"sqlite:///{database}"
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url)}
    )


def child_migrate(database: Path) -> dict[str, object]:
    from flask_migrate import upgrade

    with child_app(database).app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return {}


def child_upload(database: Path, upload: Path) -> dict[str, object]:
    from dashboard.campaigns.upload import CampaignContent, create_csv_campaign
    from dashboard.extensions import db
    from dashboard.mail.addresses import Mailbox
    from dashboard.models import CsvImport

    content = CampaignContent(SUBJECT, TEXT, None, Mailbox("shop@example.vn", "Cửa hàng"))
    with child_app(database).app_context():
        started = time.perf_counter()
        with upload.open("rb") as file:
            campaign = create_csv_campaign(
                file, filename=upload.name, content=content, source="bench"
            )
        seconds = time.perf_counter() - started
        import_id = db.session.query(CsvImport.id).filter_by(campaign_id=campaign.id).scalar()
    return {"import_id": import_id, "seconds": seconds, "peak_mb": peak_rss_mb()}


def child_import(database: Path, import_id: int) -> dict[str, object]:
    from sqlalchemy import func, select

    from dashboard.campaigns.importer import run_import
    from dashboard.extensions import db
    from dashboard.models import CsvImport, Message

    with child_app(database).app_context():
        started, cpu = time.perf_counter(), cpu_seconds()
        status = run_import(import_id)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        peak = peak_rss_mb()
        done = db.session.get(CsvImport, import_id)
        messages = db.session.scalar(
            select(func.count()).select_from(Message).where(Message.campaign_id == done.campaign_id)
        )
    return {
        "status": status,
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_mb": peak,
        "messages": messages,
        "rows_valid": done.rows_valid,
        "rows_invalid": done.rows_invalid,
        "error": done.error,
    }


def in_child(*args: str) -> dict[str, object]:
    """Run this script's `--child` step in a fresh process; what it printed, as JSON."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if result.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def one_run(kind: str, upload: Path, template: Path, folder: Path, rows: int) -> dict[str, float]:
    database = folder / f"{kind}.db"
    shutil.copyfile(template, database)
    try:
        uploaded = in_child("upload", str(database), str(upload))
        imported = in_child("import", str(database), str(uploaded["import_id"]))
    finally:
        database.unlink(missing_ok=True)
    if imported["status"] != "ready" or imported["messages"] != rows:
        raise SystemExit(f"{kind}: the import did not bring in {rows:,} messages: {imported}")
    print(
        f"{kind:4}: upload {uploaded['seconds']:5.1f} s (peak {uploaded['peak_mb']:.0f} MB), "
        f"import {imported['seconds']:6.1f} s = {rows / imported['seconds']:8,.0f} rows/s "
        f"(CPU {imported['cpu_s']:.0f} s = {rows / imported['cpu_s']:,.0f} rows per CPU second), "
        f"peak RSS {imported['peak_mb']:.0f} MB, {imported['messages']:,} messages",
        flush=True,
    )
    return {
        "rows_per_s": rows / imported["seconds"],
        "seconds": imported["seconds"],
        "rows_per_cpu_s": rows / imported["cpu_s"],
        "peak_mb": imported["peak_mb"],
        "upload_s": uploaded["seconds"],
    }


def files(args: argparse.Namespace, folder: Path) -> tuple[Path, Path]:
    workbook = Path(args.keep) if args.keep else folder / "customers.xlsx"
    text = workbook.with_name(workbook.name + ".csv")
    write_xlsx = write_excel_layout if args.excel_layout else write_workbook
    for path, write in ((workbook, write_xlsx), (text, write_csv)):
        if path.exists():
            print(f"reusing {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
            continue
        started = time.perf_counter()
        write(path, args.rows)
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return workbook, text


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        step, database, *rest = sys.argv[2:]
        steps = {
            "migrate": lambda: child_migrate(Path(database)),
            "upload": lambda: child_upload(Path(database), Path(rest[0])),
            "import": lambda: child_import(Path(database), int(rest[0])),
        }
        print(json.dumps(steps[step]()))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", help="keep the workbook here (the CSV beside it) and reuse it")
    parser.add_argument(
        "--excel-layout",
        action="store_true",
        help="write the workbook as Excel lays one out (shared strings, <dimension>)",
    )
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-xlsx-import-") as name:
        folder = Path(name)
        workbook, text = files(args, folder)
        sizes = {"xlsx": workbook.stat().st_size / 1e6, "csv": text.stat().st_size / 1e6}
        template = folder / "template.db"
        in_child("migrate", str(template))
        results: dict[str, list[dict[str, float]]] = {"xlsx": [], "csv": []}
        for _ in range(args.rounds):
            for kind, upload in (("xlsx", workbook), ("csv", text)):
                results[kind].append(one_run(kind, upload, template, folder, args.rows))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n{args.rows:,} rows, medians of {args.rounds} rounds (alternated)")
    print("| file | size | import | rows/s | rows/CPU s | peak RSS of the import | upload |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, runs in results.items():

        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(run[key] for run in runs)

        print(
            f"| {kind} | {sizes[kind]:.1f} MB | {median('seconds'):.1f} s "
            f"| {median('rows_per_s'):,.0f} | {median('rows_per_cpu_s'):,.0f} "
            f"| {median('peak_mb'):.0f} MB "
            f"| {median('upload_s'):.1f} s |"
        )


if __name__ == "__main__":
    main()
