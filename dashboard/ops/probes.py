"""Short, bounded looks at the parts the dispatcher depends on: the database, the broker (and how
many batches wait on each queue) and the SMTP server. Used by /readyz and /metrics.

Every probe gives up after a couple of seconds and never lets a password out: targets are
shown with their secrets masked, and error texts have every configured secret blanked.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from kombu import Connection
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dashboard.extensions import db
from dashboard.sending.broker_depths import PROBE_TIMEOUT_SECONDS, queue_depths

MASK = "***"


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found: whether the part answered, and what a person needs to act on it."""

    name: str
    ok: bool
    target: str
    duration_ms: int
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ok": self.ok,
            "target": self.target,
            "duration_ms": self.duration_ms,
        }
        if self.error:
            answer["error"] = self.error
        return answer


def secrets_of(config: Mapping[str, Any]) -> list[str]:
    """Every password the configuration holds, so that no error text can echo one."""
    found = [config.get("MAIL_PASSWORD") or ""]
    found.append(make_url(config["SQLALCHEMY_DATABASE_URI"]).password or "")
    celery = config["CELERY"]
    for url in (celery["broker_url"], celery["result_backend"]):
        found.append(urlsplit(url).password or "")
    return [secret for secret in found if secret]


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, MASK)
    return message[:300]


def _run(name: str, target: str, check: Callable[[], None], secrets: list[str]) -> ProbeResult:
    started = time.monotonic()
    try:
        check()
    except Exception as error:  # any failure is an answer here, never a 500
        elapsed = int((time.monotonic() - started) * 1000)
        reason = _scrub(f"{type(error).__name__}: {error}", secrets)
        return ProbeResult(name, False, target, elapsed, reason)
    return ProbeResult(name, True, target, int((time.monotonic() - started) * 1000))


def database_target(config: Mapping[str, Any]) -> str:
    """The database as /readyz names it (it is public): its engine, and for a server its host,
    port and database name; never a user name, a password or a path on this machine."""
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    backend = url.get_backend_name()
    if backend == "sqlite" or not url.host:
        return backend
    port = f":{url.port}" if url.port else ""
    return f"{backend}://{url.host}{port}/{url.database or ''}"


def broker_target(config: Mapping[str, Any]) -> str:
    return Connection(config["CELERY"]["broker_url"]).as_uri()  # kombu masks the password


def probe_database(app: Flask) -> ProbeResult:
    """Run `SELECT 1` through the app's own engine (and so its pool and connect timeout)."""

    def check() -> None:
        with app.app_context(), db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                timeout_ms = int(PROBE_TIMEOUT_SECONDS * 1000)
                connection.execute(text(f"SET statement_timeout = {timeout_ms}"))
            connection.execute(text("SELECT 1")).scalar_one()
            connection.rollback()  # the SET must not outlive this probe in the pool

    hidden = secrets_of(app.config)
    path = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    if path and database_target(app.config) == "sqlite":
        hidden.append(path)  # an SQLite error may name its file
    return _run("database", database_target(app.config), check, hidden)


def probe_broker(app: Flask, queues: Iterable[str]) -> ProbeResult:
    return _run(
        "broker",
        broker_target(app.config),
        lambda: queue_depths(app.config, queues),
        secrets_of(app.config),
    )


def probe_smtp(app: Flask) -> ProbeResult:
    """Connect, read the server's 220 greeting and say QUIT; no login, no mail."""
    config = app.config
    host, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])

    def check() -> None:
        if config["MAIL_USE_SSL"]:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=PROBE_TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            conn = smtplib.SMTP(host, port, timeout=PROBE_TIMEOUT_SECONDS)
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()

    return _run("smtp", f"{host}:{port}", check, secrets_of(config))
