"""Benchmark: the SMTP client alone, on real-sized mail, against Postfix's `smtp-sink`.

    .venv/bin/python bench/smtp_client_speed.py [--messages 20000] [--rounds 3]
                                                [--base-tree /tmp/smtp-base]

N pre-built personalised messages (~4 KB each: a Vietnamese text and HTML body, quoted-printable,
built by the project's MIME skeleton before any clock runs) go over ONE kept connection to one
`smtp-sink` on a free loopback port, sent by:

- `project`: this tree's `deliver_batch`;
- `base`: `deliver_batch` of another tree (`--base-tree`, e.g. `git worktree add /tmp/smtp-base
  aee3fdb`), to compare before and after in the same run;
- `smtplib`: a plain `smtplib.SMTP.sendmail` loop (four round trips a message);
- `smtp-source`: Postfix's own client, `smtp-source -d -s 1` (one kept connection, no
  pipelining: it has none), sending the same message read from a file.

Each client runs in its own process, the systems alternate in every round (the order rotates),
and the figures are medians over the rounds: messages per second and the client's CPU time per
message (user + system, of the send loop for the Python clients, of the whole process for
`smtp-source`). Only loopback is used; the sink is started here and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
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

from bench.loopback import free_port, wait_port  # noqa: E402

SENDER = "dispatcher@example.com"
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
CITIES = ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ", "Thành phố Hồ Chí Minh"]
PARAGRAPH = (
    "Chúng tôi trân trọng kính mời {name} ở {city} tham dự buổi gặp mặt khách hàng thân thiết "
    "cuối năm. Chương trình gồm phần giới thiệu sản phẩm mới, trao quà tri ân và tiệc trà. "
    "Xin vui lòng xác nhận trước ngày hai mươi tháng mười hai để chúng tôi chuẩn bị chu đáo."
)


def build_messages(count: int) -> list[tuple[str, bytes]]:
    """(recipient, bytes) for each message: text ~0.75 KB and HTML ~1.2 KB of Vietnamese
    (UTF-8) with the name and city merged, as the project's one builder makes them."""
    sys.path.insert(0, str(ROOT))
    from dashboard.mail.addresses import Mailbox
    from dashboard.mail.skeleton import MimeSkeleton, Personalised

    skeleton = MimeSkeleton(Mailbox(SENDER, "Hệ thống Gửi thư"), has_html=True)
    messages = []
    for i in range(count):
        address, name, city = f"user{i}@example.com", f"Nguyễn Văn {i}", CITIES[i % 5]
        paragraph = PARAGRAPH.format(name=name, city=city)
        text = f"Kính gửi {name},\n\n" + "\n\n".join([paragraph] * 2) + "\n\nTrân trọng.\n"
        html = (
            f"<html><body><p>Kính gửi <b>{name}</b>,</p>"
            + "".join(f"<p>{paragraph}</p>" for _ in range(3))
            + '<p><a href="https://example.com/huy?u='
            + str(i)
            + '">Hủy đăng ký</a></p>'
            + "</body></html>"
        )
        personalised = Personalised(
            Mailbox(address, name), f"Chào {name}", text, html, f"<{i}.bench@example.com>"
        )
        messages.append((address, skeleton.render(personalised)))
    return messages


# --- the clients, each run in a child process -------------------------------------------------


def _child(kind: str, tree: str, port: int, messages_file: str) -> None:
    with open(messages_file, "rb") as source:
        messages: list[tuple[str, bytes]] = pickle.load(source)
    if kind == "smtplib":
        import smtplib

        started, cpu = time.perf_counter(), time.process_time()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
            for address, data in messages:
                conn.sendmail(SENDER, [address], data)
        sent = len(messages)
    else:
        sys.path.insert(0, tree)
        from dashboard.mail.smtp import Envelope, Outcome, SmtpSettings, deliver_batch

        envelopes = [Envelope(i, SENDER, a, d) for i, (a, d) in enumerate(messages)]
        settings = SmtpSettings("127.0.0.1", port, timeout=30)
        started, cpu = time.perf_counter(), time.process_time()
        sent = sum(r.outcome is Outcome.SENT for r in deliver_batch(envelopes, settings))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"sent": sent, "wall": wall, "cpu": cpu}))


def run_python(kind: str, tree: Path, port: int, messages_file: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, str(tree), str(port), str(messages_file)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout)


def run_smtp_source(port: int, count: int, message_file: Path) -> dict[str, float]:
    command = [SMTP_SOURCE, "-d", "-s", "1", "-m", str(count), "-F", str(message_file)]
    command += ["-f", SENDER, "-t", "user0@example.com", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"smtp-source failed: {process.stderr.read().decode()}")
    return {"sent": count, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-tree", type=Path, default=Path("/tmp/smtp-base"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, tree, port, messages_file = args.child
        _child(kind, tree, int(port), messages_file)
        return
    for binary in (SMTP_SINK, SMTP_SOURCE):
        if not shutil.which(binary):
            raise SystemExit(f"{binary} is needed (Postfix)")

    messages = build_messages(args.messages)
    sizes = [len(data) for _, data in messages]
    tmp = Path(tempfile.mkdtemp(prefix="smtp-client-speed-"))
    messages_file = tmp / "messages.pickle"
    messages_file.write_bytes(pickle.dumps(messages))
    # smtp-source reads lines and ends each with CRLF (and doubles leading dots) itself.
    one_message = tmp / "message.eml"
    one_message.write_bytes(messages[0][1].replace(b"\r\n", b"\n"))

    systems = {
        "project": lambda: run_python("deliver", ROOT, port, messages_file),
        "smtplib": lambda: run_python("smtplib", ROOT, port, messages_file),
        "smtp-source": lambda: run_smtp_source(port, args.messages, one_message),
    }
    if args.base_tree.is_dir():
        systems["base"] = lambda: run_python("deliver", args.base_tree, port, messages_file)
    else:
        print(f"no --base-tree at {args.base_tree}: the base is left out")

    port = free_port()
    sink = subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", f"127.0.0.1:{port}", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in systems}
    try:
        wait_port(port)
        names = list(systems)
        print(
            f"{args.messages} messages of {statistics.mean(sizes) / 1024:.1f} KB on average "
            f"(min {min(sizes)}, max {max(sizes)} bytes), one connection each, {args.rounds} "
            f"rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        for round_number in range(args.rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                result = systems[name]()
                if result["sent"] != args.messages:
                    raise SystemExit(f"{name} sent {result['sent']} of {args.messages}")
                rate = result["sent"] / result["wall"]
                cpu_us = result["cpu"] / result["sent"] * 1e6
                figures[name].append((rate, cpu_us))
                print(
                    f"  round {round_number + 1} {name:12} {rate:8.0f} msgs/s {cpu_us:6.0f} µs/msg"
                )
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    medians = {
        name: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in figures.items()
    }
    print(f"\n{'system':12} {'msgs/s':>8} {'µs CPU/msg':>11}  (medians)")
    for name, (rate, cpu_us) in medians.items():
        print(f"{name:12} {rate:8.0f} {cpu_us:11.0f}")
    project_rate, project_cpu = medians["project"]
    for other in (n for n in medians if n != "project"):
        rate, cpu_us = medians[other]
        print(
            f"project / {other}: {project_rate / rate:.2f}x the rate, "
            f"{project_cpu / cpu_us:.2f}x the CPU per message"
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"(this process built the messages in {usage.ru_utime + usage.ru_stime:.1f} s CPU)")


if __name__ == "__main__":
    main()
