"""Reading a 1,000,000-row .xlsx: openpyxl's read-only mode against python-calamine, side by
side in one run (rows/s and the reading process's peak RSS), and the import's own reader.

    .venv/bin/python bench/xlsx_readers.py [--rows 1000000] [--keep PATH]

The workbook is written once with openpyxl's write-only mode (a number-looking phone column, a
date column; its texts inline, where Excel keeps them in a shared-strings part:
`write_excel_layout` writes the same rows that way); each reader then runs in its own process
so its peak memory is its own.
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


def excel_row(i: int) -> list[object]:
    """Row `i` of the bench's sheet: the values `write_workbook` and `write_excel_layout` write."""
    born = dt.date(1990, 1, 1)
    return [
        f"kh{i}@example.vn",
        f"{FAMILY[i % 10]} {GIVEN[i % 7]} {i}",
        84_900_000_000 + i,
        born + dt.timedelta(days=i % 9000),
        "" if i % 5 == 0 else f"Công ty {i % 1000}",
    ]


def write_excel_layout(path: Path, rows: int) -> None:
    """The same rows laid out as Excel saves them: every text in a shared-strings part (one
    entry per distinct text: two million here), `<dimension>` at the top of the sheet, an empty
    cell left out. The other parts (styles with the date format) are those openpyxl writes for
    a two-row workbook; the sheet and the shared strings are streamed."""
    import io
    import re
    import zipfile
    from xml.sax.saxutils import escape

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Khách hàng"
    sheet.append(["Email", "Họ và tên", "Điện thoại", "Ngày sinh", "Công ty"])
    sheet.append(excel_row(1))
    small = io.BytesIO()
    book.save(small)
    parts = zipfile.ZipFile(small)
    date_style = re.search(rb'<c r="D2" s="(\d+)"', parts.read("xl/worksheets/sheet1.xml"))[1]
    strings: dict[str, int] = {}
    uses = 0

    def text_cell(ref: str, text: str) -> str:
        nonlocal uses
        uses += 1
        index = strings.setdefault(text, len(strings))
        return f'<c r="{ref}" t="s"><v>{index}</v></c>'

    epoch = dt.date(1899, 12, 30)
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        # openpyxl wrote its strings inline: the shared-strings part is named here as Excel does.
        added = {
            "[Content_Types].xml": (
                b"</Types>",
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
            ),
            "xl/_rels/workbook.xml.rels": (
                b"</Relationships>",
                b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rIdStrings"/>'
                b"</Relationships>",
            ),
        }
        for item in parts.infolist():
            if item.filename in ("xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"):
                continue
            data = parts.read(item.filename)
            if item.filename in added:
                data = data.replace(*added[item.filename])
            out.writestr(item, data)
        with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as xml:
            xml.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{main}"><dimension ref="A1:E{rows + 1}"/><sheetData>'.encode()
            )
            header = "Email", "Họ và tên", "Điện thoại", "Ngày sinh", "Công ty"
            cells = "".join(text_cell(f"{c}1", t) for c, t in zip("ABCDE", header, strict=True))
            xml.write(f'<row r="1">{cells}</row>'.encode())
            chunk = []
            for i in range(rows):
                r = i + 2
                email, name, phone, born, company = excel_row(i)
                cells = (
                    text_cell(f"A{r}", email)
                    + text_cell(f"B{r}", name)
                    + f'<c r="C{r}"><v>{phone}</v></c>'
                    + f'<c r="D{r}" s="{date_style.decode()}"><v>{(born - epoch).days}</v></c>'
                    + (text_cell(f"E{r}", company) if company else "")
                )
                chunk.append(f'<row r="{r}">{cells}</row>')
                if len(chunk) == 10_000:
                    xml.write("".join(chunk).encode())
                    chunk = []
            xml.write(("".join(chunk) + "</sheetData></worksheet>").encode())
        with out.open("xl/sharedStrings.xml", "w", force_zip64=True) as xml:
            xml.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{main}" '
                f'count="{uses}" uniqueCount="{len(strings)}">'.encode()
            )
            listed = list(strings)  # in index order: a dict keeps insertion order
            for start in range(0, len(listed), 10_000):
                block = listed[start : start + 10_000]
                xml.write("".join(f"<si><t>{escape(t)}</t></si>" for t in block).encode())
            xml.write(b"</sst>")


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
