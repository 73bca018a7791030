"""Reading a 1,000,000-row .xlsx: openpyxl's read-only mode against python-calamine, side by
side in one run (rows/s and the reading process's peak RSS), and the import's own reader.

    .venv/bin/python bench/xlsx_readers.py [--rows 1000000] [--keep PATH]

The workbook is written once with openpyxl's write-only mode, as Excel lays one out (shared
strings, a number-looking phone column, a date column); each reader then runs in its own
process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
GIVEN = ["Văn An", "Thị Bình", "Minh Châu", "Quốc Dũng", "Thu Hà", "Đức Huy", "Ngọc Lan"]


def write_workbook(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Khách hàng")
    sheet.append(["Email", "Họ và tên", "Điện thoại", "Ngày sinh", "Công ty"])
    born = dt.date(1990, 1, 1)
    for i in range(rows):
        sheet.append(
            [
                f"kh{i}@example.vn",
                f"{FAMILY[i % 10]} {GIVEN[i % 7]} {i}",
                84_900_000_000 + i,
                born + dt.timedelta(days=i % 9000),
                "" if i % 5 == 0 else f"Công ty {i % 1000}",
            ]
        )
    book.save(path)


def read_openpyxl(path: str) -> int:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return count


def read_calamine(path: str) -> int:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(path)
    return sum(1 for _ in book.get_sheet_by_index(0).iter_rows())


def read_import(path: str) -> int:
    from dashboard.campaigns.xlsx_reading import read_workbook_rows

    with open(path, "rb") as file:
        return sum(1 for _ in read_workbook_rows(file, max_fields=1000, max_row_bytes=1 << 20))


READERS = {
    "openpyxl read-only": read_openpyxl,
    "python-calamine": read_calamine,
    "the import's reader (openpyxl read-only + cell text)": read_import,
}


def child(name: str, path: str) -> None:
    started = time.perf_counter()
    count = READERS[name](path)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count}\t{seconds:.2f}\t{peak_mb:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write (or reuse) the workbook at this path")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(args.keep) if args.keep else Path(scratch) / "bench.xlsx"
        if not path.exists():
            started = time.perf_counter()
            write_workbook(path, args.rows)
            print(f"wrote {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        print(f"workbook: {path.stat().st_size / 1e6:.1f} MB, {os.cpu_count()} CPUs")
        print(f"{'reader':55} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'peak RSS':>9}")
        for name in READERS:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            count, seconds, peak = int(out[0]), float(out[1]), float(out[2])
            print(
                f"{name:55} {count:>10,} {seconds:>8.1f} {count / seconds:>9,.0f} {peak:>6,.0f} MB"
            )


if __name__ == "__main__":
    main()
