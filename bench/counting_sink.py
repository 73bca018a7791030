"""Postfix's `smtp-sink` on a loopback port, counting what it accepted: with `-c` it writes
`sess=N quit=N mesg=N` after every message's final dot, and the last count is the number of
messages delivered to it."""

from __future__ import annotations

import re
from pathlib import Path

SMTP_SINK = "/usr/sbin/smtp-sink"
_COUNT = re.compile(rb"mesg=(\d+)")


def sink_command(port: int) -> list[str]:
    """smtp-sink accepting everything (PIPELINING offered) and counting on its stdout."""
    return [SMTP_SINK, "-c", "-u", "nobody", f"127.0.0.1:{port}", "256"]


def delivered(log: Path) -> int:
    """Messages the sink whose stdout is `log` has accepted so far."""
    try:
        with log.open("rb") as stream:
            stream.seek(0, 2)
            stream.seek(max(0, stream.tell() - 200))
            tail = stream.read()
    except FileNotFoundError:
        return 0
    counts = _COUNT.findall(tail)
    return int(counts[-1]) if counts else 0
