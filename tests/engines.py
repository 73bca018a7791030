"""The engines a test session runs on, chosen by the environment, each made fresh per session.

`TEST_DATABASE=sqlite|postgresql` and `TEST_BROKER=redis|rabbitmq|sqs` pick them (`make test`
runs both pairs, then the SQS subset). A PostgreSQL database and a RabbitMQ vhost are created
for the session, named after its process id so that several sessions can share one server, and
dropped at its end; on SQS the session's queues carry a prefix of its own (`sqs_session`).
An engine that was asked for and does not answer fails the run: nothing here ever skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

DATABASES = ("sqlite", "postgresql")
BROKERS = ("redis", "rabbitmq", "sqs")
TEST_DATABASE = os.environ.get("TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
TEST_BROKER = os.environ.get("TEST_BROKER", "redis").strip().lower() or "redis"
# The servers to make the session's database and vhost on; the defaults are this machine's.
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
# The SQS-compatible server (moto) `.ci/run` starts; started here when nothing answers outside CI.
SQS_ENDPOINT_URL = os.environ.get("TEST_SQS_ENDPOINT_URL", "http://127.0.0.1:5003")
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


# --- Amazon SQS, emulated by moto's server on loopback ------------------------------------------
#: Fake credentials: moto accepts any; the real ones of a developer's shell never reach it.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def moto_server(host: str, port: int, log_path: str | os.PathLike[str]) -> Iterator[str]:
    """moto's SQS-compatible server of our own on host:port; yields its URL, stops it after."""
    binary = str(Path(sys.executable).with_name("moto_server"))  # this venv's
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, "-H", host, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not _listening(host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start on {host}:{port}", pytrace=False)
            time.sleep(0.1)
        yield f"http://{host}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def sqs_settings(endpoint_url: str, prefix: str) -> dict[str, str]:
    """The settings that put a dispatcher's broker on the SQS server at `endpoint_url`, in
    queues named with `prefix`: short long-polls, so that workers stop quickly."""
    return {
        **FAKE_AWS,
        "CELERY_BROKER_URL": "sqs://",
        "SQS_ENDPOINT_URL": endpoint_url,
        "SQS_REGION": "us-east-1",
        "SQS_QUEUE_NAME_PREFIX": prefix,
        "SQS_WAIT_TIME_SECONDS": "1",
        "SQS_POLLING_INTERVAL": "0.1",
    }


def delete_sqs_queues(endpoint_url: str, prefix: str) -> None:
    """Delete the queues named with `prefix` (a session's), so that a shared server stays clean."""
    client = boto3.client("sqs", endpoint_url=endpoint_url, region_name="us-east-1", **_keys())
    for url in client.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        client.delete_queue(QueueUrl=url)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    }


@contextmanager
def sqs_session(log_dir: str | os.PathLike[str]) -> Iterator[dict[str, str]]:
    """The session's SQS settings: the server at TEST_SQS_ENDPOINT_URL (in CI `.ci/run` starts
    it, and one that does not answer fails the run; elsewhere it is started here when nothing
    listens), queues prefixed by the session's process id and deleted at its end. The fake
    credentials are this process's too while the session lasts (its app publishes)."""
    parts = urlsplit(SQS_ENDPOINT_URL)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with contextlib.ExitStack() as stack:
        if not _listening(host, port):
            if os.environ.get("CI"):
                pytest.fail(
                    f"no SQS server answers at {SQS_ENDPOINT_URL}: `.ci/run` starts moto_server",
                    pytrace=False,
                )
            stack.enter_context(moto_server(host, port, os.path.join(log_dir, "moto.log")))
        saved = {name: os.environ.get(name) for name in FAKE_AWS}
        os.environ.update(FAKE_AWS)
        prefix = f"{session_name('dispatcher-test')}-"
        try:
            yield sqs_settings(SQS_ENDPOINT_URL, prefix)
        finally:
            with contextlib.suppress(Exception):
                delete_sqs_queues(SQS_ENDPOINT_URL, prefix)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
