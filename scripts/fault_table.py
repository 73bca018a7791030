"""The docs' fault table, made from the runs the fault tests saved.

    FAULT_REPORT=/tmp/faults.jsonl pytest -m fault -s          (once per engine pair)
    python scripts/fault_table.py /tmp/faults.jsonl

Each test adds one JSON line per run (tests/fault_stack.py, `FaultReport.save`); this prints a
Markdown table with one row per fault and engine pair, in the order the runs were made.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = (
    "| Fault | Engines | Messages | Lost | Duplicates | In flight | Recovery | Time | Notes |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def row(run: dict) -> str:
    recovery = "-" if run.get("recovery") is None else f"{run['recovery']:.0f} s"
    return (
        f"| {run['name']} | {run['database']}+{run['broker']} | {run['messages']} | "
        f"{run['lost']} | {run['duplicates']} | {run['in_flight']} | {recovery} | "
        f"{run['seconds']:.0f} s | {run['detail']} |"
    )


def main(paths: list[str]) -> int:
    runs = [
        json.loads(line)
        for path in paths
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    first: dict[str, int] = {}
    for run in runs:
        first.setdefault(run["name"], len(first))
    runs.sort(key=lambda run: first[run["name"]])  # each fault's engine pairs side by side
    print(HEADER)
    for run in runs:
        print(row(run))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
