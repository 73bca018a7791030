"""The API under gunicorn as the Dockerfile starts it, with a real worker and SMTP server: emails
posted from many connections at once each get a 202, and every accepted one reaches the SMTP
server exactly once, even though gunicorn is stopped right after the last answer (each process
hands what it has stored but not yet published to the broker before it exits)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dashboard.ops.local_stack import process_env
from tests.conftest import ROOT, AdminIdentity
from tests.smtp_server import ScriptedSMTPServer

EMAILS = 48
CONNECTIONS = 8
WAIT_SECONDS = 120


def dockerfile_gunicorn(bind: str) -> list[str]:
    """The Dockerfile's CMD (gunicorn and its options), bound to `bind` instead."""
    cmd = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    )
    argv = json.loads(cmd.removeprefix("CMD "))
    assert argv[0] == "gunicorn"
    argv[argv.index("--bind") + 1] = bind
    return [str(ROOT / ".venv" / "bin" / "gunicorn"), *argv[1:]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn never answered:\n{log.read_text(errors='replace')[-4000:]}")


def test_every_email_accepted_by_gunicorn_arrives_once_even_when_it_stops_at_once(
    stack_settings: dict[str, str],
    migrated_database: str,
    worker: Path,
    smtp_server: ScriptedSMTPServer,
    admin_identity: AdminIdentity,
    unique: str,
    tmp_path: Path,
) -> None:
    smtp_server.reset()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        gunicorn = subprocess.Popen(
            dockerfile_gunicorn(f"127.0.0.1:{port}"),
            cwd=ROOT,
            env=process_env(stack_settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, gunicorn, log)

        def post(number: int) -> tuple[int, str]:
            address = f"g{number}-{unique}@example.vn"
            body = {
                "to": f"Người nhận {number} <{address}>",
                "subject": f"Mã số {number} — {unique}",
                "text": f"Mã của bạn là {number:06}.\n",
            }
            request = urllib.request.Request(
                f"{url}/api/v1/emails",
                data=json.dumps(body).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {admin_identity.token}",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    return answer.status, address
            except urllib.error.HTTPError as error:
                return error.code, address

        with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
            answers = list(pool.map(post, range(EMAILS)))
    finally:
        gunicorn.terminate()  # at once: what is stored but not yet published must go out too
        gunicorn.wait(timeout=60)
    assert [status for status, _ in answers] == [202] * EMAILS, log.read_text(errors="replace")

    addresses = [address for _, address in answers]
    deadline = time.monotonic() + WAIT_SECONDS
    while not all(smtp_server.received_by(a) for a in addresses):
        if time.monotonic() > deadline:
            missing = [a for a in addresses if not smtp_server.received_by(a)]
            pytest.fail(f"{len(missing)} of {EMAILS} accepted emails never arrived: {missing}")
        time.sleep(0.2)
    received = {a: smtp_server.received_by(a) for a in addresses}
    assert {a: len(found) for a, found in received.items()} == {a: 1 for a in addresses}
    for number, address in enumerate(addresses):
        assert received[address][0].message["Subject"] == f"Mã số {number} — {unique}"
