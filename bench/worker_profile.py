"""Where a worker's pool processes spend a campaign's send: py-spy samples them (idle threads
included, so waiting on the SMTP server counts) without pausing them, and each collapsed stack
is put in one category by the rules below.

A sample outside any task is "idle between tasks" and left out of the shares. Otherwise its
frames are tried from the leaf up, each against the rules in order, and the first frame a rule
names decides: a log line written while recording outcomes is "logging", a Redis call of the
rate limiter "rate limit". Where one function does several things (`_send_pipelined` waits for
replies, stuffs dots and writes), the frame's source line decides, so the categories hold as the
code moves; what no rule names is "other", and its heaviest leaves are printed to show what a
new rule needs. py-spy's non-blocking samples are now and then torn (a frame of one moment
under the stack of another); they are few and land in some category all the same.
"""

from __future__ import annotations

import linecache
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")

_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?):(?P<line>\d+)\)$")


@dataclass(frozen=True)
class Frame:
    func: str
    path: str
    line: int

    @property
    def source(self) -> str:
        return linecache.getline(self.path, self.line).strip() if self.line else ""


def parse_stack(text: str) -> list[Frame]:
    """py-spy's collapsed stack (root first) as frames, leaf last."""
    frames = []
    for part in text.split(";"):
        match = _FRAME.match(part)
        if match:
            frames.append(Frame(match["func"], match["path"], int(match["line"])))
        else:
            frames.append(Frame(part, "", 0))  # process or thread labels
    return frames


def _path_has(*needles: str) -> Callable[[Frame], bool]:
    return lambda f: any(needle in f.path for needle in needles)


def _named(*names: str) -> Callable[[Frame], bool]:
    return lambda f: f.func in names


def _smtp_code(frame: Frame) -> bool:
    return "smtplib.py" in frame.path or "/dashboard/mail/" in frame.path


_READ = re.compile(r"getreply|_read_repl|readline|\.recv|readinto|\.read\(|select\(|\.poll\(")
_WRITE = re.compile(r"sendall|\.send\(|\.write\(")
_STUFF = re.compile(r"LEADING_DOT|stuff|\\r\\n\.|\\n\.")


def _waits_for_replies(frame: Frame) -> bool:
    return (frame.func == "getreply" and "smtplib.py" in frame.path) or (
        "/dashboard/mail/" in frame.path and bool(_READ.search(frame.source))
    )


def _sends(frame: Frame) -> bool:
    return (frame.func in ("send", "sendall") and "smtplib.py" in frame.path) or (
        "/dashboard/mail/" in frame.path and bool(_WRITE.search(frame.source))
    )


def _stuffs_dots(frame: Frame) -> bool:
    return _smtp_code(frame) and ("stuff" in frame.func or bool(_STUFF.search(frame.source)))


def _encodes(frame: Frame) -> bool:
    return (
        any(part in frame.path for part in ("header_encoding.py", "/email/", "/base64.py"))
        or frame.func in ("quoted_printable", "encoded_words")
        or ("/dashboard/mail/" in frame.path and "b2a_qp" in frame.source)
    )


#: (category, test of one frame), tried on each frame from the leaf up, in this order: the
#: frame nearest the leaf that one of them names decides the sample.
FRAME_RULES: tuple[tuple[str, Callable[[Frame], bool]], ...] = (
    ("HMAC (unsubscribe link)", _path_has("itsdangerous", "/hmac.py")),
    ("logging", lambda f: "/logging/" in f.path or f.func == "log_attempts"),
    ("rate limit", _path_has("rate_limit.py")),
    ("claim", _path_has("/sending/claims.py")),
    ("outcome writes", _path_has("/sending/outcomes.py", "/sending/sent_counts.py")),
    ("loading the batch", _named("load_for_sending")),
    ("storing rendered subjects", _named("keep_rendered_subjects")),
    ("suppression check", _path_has("/sending/suppression.py")),
    (
        "holds, slices, account routing",
        _path_has("/sending/holds.py", "/sending/slices.py", "account_hold.py", "/routes.py"),
    ),
    ("connection set-up", lambda f: f.func in ("open_connection", "_close", "ehlo", "quit")),
    ("waiting for SMTP replies", _waits_for_replies),
    ("dot-stuffing", _stuffs_dots),
    ("socket send", _sends),
    ("header/QP encoding", _encodes),
    (
        "rendering (Jinja, skeleton)",
        _path_has("jinja2", "/mail/merge.py", "/skeleton.py", "/envelopes.py", "batch_content"),
    ),
)
CATEGORIES = [
    "idle between tasks",
    *dict.fromkeys(name for name, _ in FRAME_RULES),
    "Redis, other",
    "other",
]


def category(frames: list[Frame]) -> str:
    if not any("celery/app/trace.py" in f.path for f in frames):
        return "idle between tasks"
    for frame in reversed(frames):
        for name, test in FRAME_RULES:
            if test(frame):
                return name
    if any("/redis/" in f.path for f in frames):
        return "Redis, other"
    return "other"


@dataclass
class Breakdown:
    samples: Counter[str]  # category -> samples
    other_leaves: Counter[str]  # "func (file:line)" -> samples, for "other"

    @classmethod
    def of(cls, collapsed: Iterable[tuple[str, int]]) -> Breakdown:
        samples: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        for stack, count in collapsed:
            frames = parse_stack(stack)
            if not frames:
                continue
            name = category(frames)
            samples[name] += count
            if name == "other":
                leaf = frames[-1]
                leaves[f"{leaf.func} ({Path(leaf.path).name}:{leaf.line})"] += count
        return cls(samples, leaves)

    def merge(self, other: Breakdown) -> Breakdown:
        return Breakdown(self.samples + other.samples, self.other_leaves + other.other_leaves)

    @property
    def busy(self) -> int:
        return sum(n for name, n in self.samples.items() if name != "idle between tasks")

    def shares(self) -> dict[str, float]:
        """Each category's share of the samples taken while a task ran."""
        busy = max(1, self.busy)
        return {
            name: self.samples[name] / busy
            for name in CATEGORIES
            if name != "idle between tasks" and self.samples[name]
        }


def read_collapsed(path: Path) -> list[tuple[str, int]]:
    found = []
    if not path.exists():
        return found
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            found.append((stack, int(count)))
    return found


class Sampler:
    """py-spy attached to each of some processes until stop()."""

    def __init__(self, folder: Path, rate: int) -> None:
        self.folder = folder
        self.rate = rate
        self.spies: list[tuple[subprocess.Popen, Path]] = []
        self.error = ""

    def start(self, pids: Iterable[int]) -> None:
        if PY_SPY is None:
            self.error = "py-spy is not installed (pip install -r requirements-dev.txt)"
            return
        for pid in pids:
            out = self.folder / f"spy-{pid}.txt"
            log = (self.folder / f"spy-{pid}.log").open("wb")
            process = subprocess.Popen(
                [
                    PY_SPY,
                    "record",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--idle",
                    "--full-filenames",
                    "--rate",
                    str(self.rate),
                    "--pid",
                    str(pid),
                    "--output",
                    str(out),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            self.spies.append((process, out))

    def pids(self) -> list[int]:
        return [process.pid for process, _ in self.spies]

    def stop(self) -> Breakdown:
        """Stop every py-spy (SIGINT: it writes what it has), and categorise their samples."""
        for process, _ in self.spies:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        result = Breakdown(Counter(), Counter())
        for process, out in self.spies:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            collapsed = read_collapsed(out)
            if not collapsed:
                log = out.with_suffix(".log")
                self.error = log.read_text(errors="replace")[-500:] if log.exists() else "no output"
            result = result.merge(Breakdown.of(collapsed))
        return result


def format_breakdown(breakdown: Breakdown, title: str) -> list[str]:
    shares = breakdown.shares()
    total = sum(breakdown.samples.values())
    idle = breakdown.samples["idle between tasks"] / max(1, total)
    lines = [
        f"{title}: {breakdown.busy:,} samples in tasks ({idle:.0%} of all samples idle "
        "between tasks)"
    ]
    for name, share in sorted(shares.items(), key=lambda item: -item[1]):
        lines.append(f"  {name:<30}{share:>7.1%}")
    if breakdown.other_leaves:
        heaviest = ", ".join(
            f"{leaf} {n / max(1, breakdown.busy):.1%}"
            for leaf, n in breakdown.other_leaves.most_common(5)
        )
        lines.append(f"  heaviest leaves in other: {heaviest}")
    return lines
