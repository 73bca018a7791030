"""The engines a test session runs on, chosen by the environment, each made fresh per session.

`TEST_DATABASE=sqlite|postgresql` and `TEST_BROKER=redis|rabbitmq` pick them (`make test` runs
both pairs). A PostgreSQL database and a RabbitMQ vhost are created for the session, named
after its process id so that several sessions can share one server, and dropped at its end.
An engine that was asked for and does not answer fails the run: nothing here ever skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DATABASES = ("sqlite", "postgresql")
BROKERS = ("redis", "rabbitmq")
TEST_DATABASE = os.environ.get("TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
TEST_BROKER = os.environ.get("TEST_BROKER", "redis").strip().lower() or "redis"
# The servers to make the session's database and vhost on; the defaults are this machine's.
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
CONNECT_TIMEOUT_SECONDS = 5


def check_choices() -> None:
    """Refuse a misspelt switch at once rather than run the wrong matrix cell."""
    if TEST_DATABASE not in DATABASES:
        raise pytest.UsageError(f"TEST_DATABASE must be one of {DATABASES}, not {TEST_DATABASE!r}")
    if TEST_BROKER not in BROKERS:
        raise pytest.UsageError(f"TEST_BROKER must be one of {BROKERS}, not {TEST_BROKER!r}")


def session_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}"


def admin_connection() -> psycopg.Connection:
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    try:
        return psycopg.connect(
            url.render_as_string(hide_password=False),
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(POSTGRES_URL)!r} ({error}). Start it, "
            "e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
            "or point TEST_POSTGRES_URL at one.",
            pytrace=False,
        )


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """Create an empty database `name`, yield its SQLAlchemy URL, drop it (and its sessions)."""
    with admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_connection() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _rabbitmqctl(*args: str) -> None:
    # The management plugin is not enabled on every server; rabbitmqctl always ships with it.
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        pytest.fail("TEST_BROKER=rabbitmq needs `rabbitmqctl` on PATH", pytrace=False)
    result = subprocess.run(
        [binary, "--quiet", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`rabbitmqctl {' '.join(args)}` failed ({result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}. Is RabbitMQ running? "
            "Start it with `rabbitmq-server -detached`.",
            pytrace=False,
        )


@contextmanager
def rabbitmq_vhost(name: str) -> Iterator[str]:
    """Create vhost `name` for the URL's user, yield the broker URL for it, delete it after."""
    parts = urlsplit(RABBITMQ_URL)
    user = parts.username or "guest"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _rabbitmqctl("delete_vhost", name)
