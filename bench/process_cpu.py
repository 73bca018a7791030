"""CPU used by named groups of processes over a window, read from /proc (user + system time),
and the whole machine's busy share over the same window."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    """The direct children of a process (none once it is gone)."""
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(child) for child in (task / "children").read_text().split())
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """A process and every process under it."""
    pids = [pid]
    for child in children(pid):
        pids.extend(descendants(child))
    return pids


def machine_busy() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class CpuWindow:
    """CPU seconds each group used between start() and stop(); a process that starts inside
    the window counts whole, one that ends inside it is lost (none should)."""

    groups: dict[str, Callable[[], list[int]]]  # name -> the group's pids now
    before: dict[str, dict[int, float]] = field(default_factory=dict)
    machine_before: tuple[int, int] = (0, 0)
    wall_before: float = 0.0

    def start(self) -> None:
        self.before = {
            name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()
        }
        self.machine_before = machine_busy()
        self.wall_before = time.monotonic()

    def stop(self) -> CpuUse:
        wall = time.monotonic() - self.wall_before
        seconds = {}
        for name, pids in self.groups.items():
            before = self.before.get(name, {})
            seconds[name] = sum(max(0.0, cpu_seconds(p) - before.get(p, 0.0)) for p in pids())
        busy, total = machine_busy()
        busy0, total0 = self.machine_before
        return CpuUse(
            seconds=seconds,
            wall=wall,
            machine_busy=(busy - busy0) / max(1, total - total0),
            load=os.getloadavg()[0],
        )


@dataclass(frozen=True)
class CpuUse:
    seconds: dict[str, float]  # group -> CPU seconds in the window
    wall: float
    machine_busy: float  # share of all the machine's CPUs busy (anyone's work), 0..1
    load: float  # one-minute load average at the window's end

    def per_message_us(self, messages: int) -> dict[str, float]:
        return {name: s / messages * 1e6 for name, s in self.seconds.items()}
