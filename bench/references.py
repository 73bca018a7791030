"""The systems the project is measured against, each sending the workload's messages to a
fresh counting `smtp-sink` of its own:

- Postfix's `smtp-source` (C, no PIPELINING) with kept connections (`-d`), one or several in
  parallel, sending a typical message of the workload from a file: the physical reference;
- the raw Python loop: one `smtplib` connection, pre-built bytes, `sendmail` per message;
- raw pipelined: the same bytes, MAIL/RCPT/DATA in one write (RFC 2920), one connection in each
  of several processes, nothing else (no database, broker or rendering);
- the tutorial design (`bench/tutorial_campaign.py`): one Celery task per email.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.counting_sink import delivered, sink_command
from bench.loopback import free_port, redis_command, wait_port
from bench.process_cpu import CpuUse, CpuWindow, descendants
from bench.worker_profile import Breakdown
from bench.workload import BASE_URL, SENDER, prebuilt_messages, row, typical_message

SMTP_SOURCE = "/usr/sbin/smtp-source"


@dataclass
class Run:
    """One system's send of `messages` messages, checked at the sink (and in the rows)."""

    system: str
    messages: int
    seconds: float
    delivered: int
    cpu: CpuUse
    sent_rows: int | None = None  # the project's rows in state `sent`
    breakdown: Breakdown | None = None
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def exact(self) -> bool:
        return self.delivered == self.messages and self.sent_rows in (None, self.messages)


@contextmanager
def own_sink(folder: Path) -> Iterator[tuple[int, subprocess.Popen, Path]]:
    """A counting smtp-sink for one run: (port, process, its count log)."""
    folder.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), folder / "sink.log"
    with log.open("wb") as out:
        process = subprocess.Popen(sink_command(port), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        yield port, process, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_delivered(log: Path, count: int, timeout: float = 10) -> int:
    """The sink's count once it reaches `count` (its last line may trail the client's end)."""
    deadline = time.monotonic() + timeout
    while (seen := delivered(log)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def write_message_file(path: Path) -> float:
    """A typical message of the workload as `smtp-source -F` reads it (it appends CRLF to each
    line and stuffs dots itself); the workload's mean size."""
    message, mean = typical_message()
    path.write_bytes(message.replace(b"\r\n", b"\n"))
    return mean


def run_smtp_source(folder: Path, count: int, sessions: int, message_file: Path) -> Run:
    with own_sink(folder) as (port, sink, log):
        window = CpuWindow({"sink": lambda: [sink.pid]})
        window.start()
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                SMTP_SOURCE,
                "-d",  # keep the connection: every message of a session over one
                "-s",
                str(sessions),
                "-m",
                str(count),
                "-F",
                str(message_file),
                "-f",
                SENDER,
                "-t",
                "khach@example.com",
                "-M",
                "bench.example",
                f"127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"smtp-source failed: {process.stderr.read().decode()[-500:]}")
        process.stderr.close()
        seen = wait_delivered(log, count)
        cpu = window.stop()
    cpu.seconds["smtp-source"] = usage.ru_utime + usage.ru_stime
    word = "connection" if sessions == 1 else "connections"
    return Run(f"smtp-source, {sessions} kept {word}", count, seconds, seen, cpu)


def run_raw(folder: Path, count: int) -> Run:
    """The raw Python limit: one connection, pre-built personalised bytes, a loop;
    `sendmail` waits for each of its four replies."""
    import smtplib

    messages = prebuilt_messages(count)
    with own_sink(folder) as (port, sink, log):
        window = CpuWindow({"sink": lambda: [sink.pid]})
        window.start()
        cpu_before = time.process_time()
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as connection:
            for address, data in messages:
                connection.sendmail(SENDER, [address], data)
        seconds = time.perf_counter() - started
        client = time.process_time() - cpu_before
        seen = wait_delivered(log, count)
        cpu = window.stop()
    cpu.seconds["client"] = client
    return Run("raw Python, one connection", count, seconds, seen, cpu)


def _pipelined_loop(port: int, messages: list[tuple[str, bytes]], go, done) -> None:
    """One process of `run_raw_pipelined`."""
    import smtplib

    prepared = [
        (
            f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{address}>\r\nDATA\r\n".encode(),
            data.replace(b"\r\n.", b"\r\n..") + b".\r\n",  # the builder ends data with CRLF
        )
        for address, data in messages
    ]
    with smtplib.SMTP("127.0.0.1", port) as connection:
        connection.ehlo()
        assert connection.has_extn("pipelining"), "smtp-sink offers PIPELINING"
        sock, reply = connection.sock, connection.getreply
        go.wait()
        for head, data in prepared:
            sock.sendall(head)
            for _ in range(3):
                reply()
            sock.sendall(data)
            reply()
        done.put(time.perf_counter())


def run_raw_pipelined(folder: Path, count: int, processes: int) -> Run:
    context = multiprocessing.get_context("fork")
    go, done = context.Event(), context.Queue()
    share = count // processes
    with own_sink(folder) as (port, sink, log):
        workers = [
            context.Process(
                target=_pipelined_loop,
                args=(port, prebuilt_messages(share, n * share), go, done),
            )
            for n in range(processes)
        ]
        for worker in workers:
            worker.start()
        time.sleep(1)  # every process built its bytes and connected
        window = CpuWindow({"sink": lambda: [sink.pid]})
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        window.start()
        started = time.perf_counter()
        go.set()
        finished = max(done.get(timeout=600) for _ in workers)
        for worker in workers:
            worker.join(timeout=60)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        seen = wait_delivered(log, share * processes)
        cpu = window.stop()
    # The children's CPU includes building their bytes before the clock: an upper bound.
    cpu.seconds["clients (incl. building)"] = (
        children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    )
    return Run(
        f"raw pipelined, {processes} processes", share * processes, finished - started, seen, cpu
    )


def run_tutorial(folder: Path, count: int, concurrency: int, root: Path) -> Run:
    """The tutorial's worker gets as many processes as the project's; its own redis-server is
    broker and result backend."""
    from dashboard.ops.local_stack import worker_command
    from dashboard.sending.unsubscribe_links import unsubscribe_serializer, unsubscribe_url

    folder.mkdir(parents=True, exist_ok=True)
    redis_port = free_port()
    broker = f"redis://127.0.0.1:{redis_port}/0"
    os.environ["BENCH_TUTORIAL_BROKER"] = broker
    env = {**os.environ, "PYTHONPATH": str(root)}
    spawned = []
    with own_sink(folder) as (port, sink, log):
        try:
            with (folder / "redis.log").open("wb") as out:
                redis = subprocess.Popen(redis_command(redis_port, folder), stdout=out)
            spawned.append(redis)
            wait_port(redis_port)
            worker_log = folder / "tutorial-worker.log"
            with worker_log.open("wb") as out:
                worker = subprocess.Popen(
                    worker_command(
                        app="bench.tutorial_campaign",
                        concurrency=concurrency,
                        queues=["tutorial"],
                        hostname=f"tutorial-{uuid.uuid4().hex[:6]}@%h",
                        loglevel="info",
                        mingle_and_gossip=False,
                    ),
                    cwd=root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            spawned.append(worker)
            _wait_ready(worker_log)
            from bench.tutorial_campaign import send_campaign_email

            signer = unsubscribe_serializer("bench-secret")
            tasks = [
                (*row(i), unsubscribe_url(BASE_URL, signer, row(i)[0], 1)) for i in range(count)
            ]
            window = CpuWindow(
                {
                    "worker (all processes)": lambda: descendants(worker.pid),
                    "redis": lambda: [redis.pid],
                    "sink": lambda: [sink.pid],
                }
            )
            window.start()
            started = time.perf_counter()
            results = [send_campaign_email.delay(*task, "127.0.0.1", port) for task in tasks]
            for result in results:
                result.get(timeout=600)
            seconds = time.perf_counter() - started
            seen = wait_delivered(log, count)
            cpu = window.stop()
        finally:
            for process in reversed(spawned):
                process.terminate()
                process.wait(timeout=30)
    return Run("tutorial design (task per email)", count, seconds, seen, cpu)


def _wait_ready(log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while b" ready." not in log.read_bytes():
        if time.monotonic() > deadline:
            raise SystemExit(f"a worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
