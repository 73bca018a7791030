"""Real parts for every test: the machine's Redis (our own db number), a Celery worker started
for the session, an aiosmtpd server on a free loopback port, and a migrated database.

The database and the broker are chosen by `TEST_DATABASE=sqlite|postgresql` and
`TEST_BROKER=redis|rabbitmq` (see `tests/engines.py`); task results stay in Redis either way.
Nothing here skips: a missing service fails the run, in CI and out of it.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from dashboard import create_app
from dashboard.auth.accounts import create_user, find_user
from dashboard.auth.tokens import create_token
from dashboard.config import celery_settings, engine_options
from dashboard.extensions import db
from dashboard.models import FINAL_STATUSES, Message, User
from dashboard.ops.local_stack import loopback_settings, process_env, worker_command
from dashboard.sending.queues import QUEUES
from tests import engines
from tests.smtp_server import ScriptedSMTPServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
# db 13 of the machine's Redis is these tests'; TEST_REDIS_URL lets two checkouts test at once.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKER_READY_SECONDS = 60

T = TypeVar("T")
# What the `make_app` fixture gives: `create_app`, with the pool closed after the test.
AppFactory = Callable[[dict[str, Any]], Flask]


def pytest_configure(config: pytest.Config) -> None:
    engines.check_choices()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the SQS broker itself run only on it: elsewhere they are deselected (not
    skipped: they are not missing a service, they are another run's)."""
    if engines.TEST_BROKER == "sqs":
        return
    dropped = [item for item in items if item.get_closest_marker("sqs_broker")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("sqs_broker")]


def pytest_report_header(config: pytest.Config) -> str:
    return f"engines: database={engines.TEST_DATABASE} broker={engines.TEST_BROKER}"


def wait_until(predicate: Callable[[], T], *, timeout: float = 30, what: str = "") -> T:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(0.1)


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """The .mo catalogues, as `make install` compiles them: a fresh clone's tests see Vietnamese."""
    translations = Path(__file__).resolve().parent.parent / "dashboard" / "translations"
    command = [sys.executable, "-m", "babel.messages.frontend", "compile", "-d", str(translations)]
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[ScriptedSMTPServer]:
    server = ScriptedSMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}). Start it, e.g. `redis-server "
            "--daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`.",
            pytrace=False,
        )
    client.flushdb()  # tasks left over from an earlier run must not reach this run's worker
    return client


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def database_url(stack_dir: Path) -> Iterator[str]:
    """An empty database for the session: a SQLite file, or a fresh PostgreSQL database."""
    if engines.TEST_DATABASE == "postgresql":
        with engines.postgres_database(engines.session_name("dispatcher_test")) as url:
            yield url
    else:
        yield f"sqlite:///{stack_dir / 'dispatcher.db'}"


_fresh_databases = itertools.count(1)


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the session's engine (not migrated), for a test of a first
    run; dropped after the test. Close the pools of apps on it first (`make_app` does, when it
    is requested after this fixture)."""
    if engines.TEST_DATABASE == "postgresql":
        name = f"{engines.session_name('dispatcher_test')}_{next(_fresh_databases)}"
        with engines.postgres_database(name) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture(scope="session")
def broker_settings(redis_client: redis.Redis, stack_dir: Path) -> Iterator[dict[str, str]]:
    """The session's broker: our Redis db, a fresh RabbitMQ vhost, or SQS queues of its own
    (with the settings that point at them)."""
    if engines.TEST_BROKER == "rabbitmq":
        with engines.rabbitmq_vhost(engines.session_name("dispatcher-test")) as url:
            yield {"CELERY_BROKER_URL": url}
    elif engines.TEST_BROKER == "sqs":
        with engines.sqs_session(stack_dir) as settings:
            yield settings
    else:
        yield {"CELERY_BROKER_URL": REDIS_URL}


@pytest.fixture(scope="session")
def broker_url(broker_settings: dict[str, str]) -> str:
    return broker_settings["CELERY_BROKER_URL"]


@pytest.fixture(scope="session")
def stack_settings(
    stack_dir: Path,
    smtp_server: ScriptedSMTPServer,
    redis_client: redis.Redis,
    database_url: str,
    broker_url: str,
    broker_settings: dict[str, str],
) -> dict[str, str]:
    """The environment shared by the worker process and the test's app: one source for both."""
    return {
        **broker_settings,
        **loopback_settings(
            instance_dir=stack_dir,
            database_url=database_url,
            broker_url=broker_url,
            redis_url=REDIS_URL,
            mail_port=smtp_server.port,
            secret_key="test-secret-key",
        ),
        "MAIL_TIMEOUT": "10",
        "MAIL_BATCH_SIZE": "50",
        "MAIL_MAX_RETRIES": "3",
        "MAIL_RETRY_BASE_SECONDS": "0.5",
        "MAIL_RETRY_MAX_SECONDS": "2",
        # Retries and scheduled sends go out through the beat dispatcher: keep it quick.
        "DISPATCH_INTERVAL_SECONDS": "0.5",
        "ACCOUNT_PROBE_SECONDS": "1",
        # A daily quota no test reaches by sending; a test fills the counter to see it used up.
        "RATE_LIMIT_PER_DAY": "1000000",
        "CSV_MAX_ROWS": "20000",
        # Webhooks: receivers on loopback, and a quick beat and backoff.
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_DELIVERY_INTERVAL_SECONDS": "0.5",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "WEBHOOK_RETRY_MAX_SECONDS": "1",
        "WEBHOOK_TIMEOUT_SECONDS": "5",
    }


def migrate(settings: dict[str, str]) -> None:
    """Run the migrations on `settings`' DATABASE_URL, exactly as `make run` applies them."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def migrated_database(stack_settings: dict[str, str]) -> str:
    """The schema comes from the migrations, exactly as `make run` applies them."""
    migrate(stack_settings)
    return stack_settings["DATABASE_URL"]


@contextmanager
def running_workers(
    settings: dict[str, str],
    log_dir: Path,
    names: Sequence[str],
    *,
    queues: Sequence[str] = QUEUES,
    concurrency: int = 2,
    beat: bool = False,
) -> Iterator[list[Path]]:
    """Start one real Celery worker process per node name (all at once), wait until each is
    ready, and stop them on exit; yields their log files. With `beat`, the first one also runs
    the beat (the dispatcher of retries and scheduled sends, and the sweeper)."""
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for name in names:
            log_path = log_dir / f"{name}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    worker_command(
                        concurrency=concurrency,
                        queues=queues,
                        hostname=f"{name}@%h",
                        beat=beat and not processes,
                        mingle_and_gossip=False,
                    ),
                    cwd=ROOT,
                    env=process_env(settings),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            processes.append((process, log_path))
        deadline = time.monotonic() + WORKER_READY_SECONDS
        for process, log_path in processes:
            while b" ready." not in log_path.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"the Celery worker {log_path.stem} did not start:\n"
                        + log_path.read_text(errors="replace")[-4000:],
                        pytrace=False,
                    )
                time.sleep(0.2)
        yield [log_path for _, log_path in processes]
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="session")
def worker(
    stack_settings: dict[str, str], migrated_database: str, stack_dir: Path
) -> Iterator[Path]:
    """A real Celery worker process for the whole session; yields its log file."""
    with running_workers(stack_settings, stack_dir, [f"tests-{os.getpid()}"], beat=True) as [
        log_path
    ]:
        yield log_path


def app_config(settings: dict[str, str]) -> dict[str, Any]:
    """The same settings as the worker's, as a mapping for `create_app`."""
    return {
        "TESTING": True,
        "SECRET_KEY": settings["SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(settings["DATABASE_URL"]),
        "CELERY": celery_settings(
            settings["CELERY_BROKER_URL"], settings["CELERY_RESULT_BACKEND"], settings
        ),
        "MAIL_SERVER": settings["MAIL_SERVER"],
        "MAIL_PORT": int(settings["MAIL_PORT"]),
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_DEFAULT_SENDER": settings["MAIL_DEFAULT_SENDER"],
        "MAIL_BATCH_SIZE": int(settings["MAIL_BATCH_SIZE"]),
        "REDIS_URL": settings["REDIS_URL"],
        "RATE_LIMIT_PER_DAY": int(settings["RATE_LIMIT_PER_DAY"]),
        "RATE_LIMIT_REDIS_URL": settings["RATE_LIMIT_REDIS_URL"],
        "CSV_MAX_ROWS": int(settings["CSV_MAX_ROWS"]),
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": True,
        "WEBHOOK_RETRY_BASE_SECONDS": float(settings["WEBHOOK_RETRY_BASE_SECONDS"]),
        "WEBHOOK_RETRY_MAX_SECONDS": float(settings["WEBHOOK_RETRY_MAX_SECONDS"]),
        "WEBHOOK_TIMEOUT_SECONDS": float(settings["WEBHOOK_TIMEOUT_SECONDS"]),
    }


@dataclass(frozen=True)
class AdminIdentity:
    """The admin every test acts as, with a live API token."""

    user_id: int
    email: str
    password: str
    token: str


@pytest.fixture(scope="session")
def admin_identity(stack_settings: dict[str, str], migrated_database: str) -> AdminIdentity:
    email, password = "test-admin@example.com", "correct horse battery staple"
    app = create_app(app_config(stack_settings))
    with app.app_context():
        user = find_user(email) or create_user(email, password, role="admin")
        identity = AdminIdentity(user.id, user.email, password, create_token(user, "tests").secret)
        close_pool(app)
    return identity


class AuthenticatedClient(FlaskClient):
    """A test client signed in as `identity` through the session, with its API token sent as
    `Authorization: Bearer` on every request, so tests written before logins existed pass as
    they are. Access tests use `anonymous_client`."""

    identity: ClassVar[AdminIdentity]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.identity.token}"
        with self.application.app_context():  # the session id carries the user's generation
            session_id = db.session.get(User, self.identity.user_id).get_id()
        with self.session_transaction() as session:  # what flask_login.login_user stores
            session["_user_id"] = session_id
            session["_fresh"] = True


@cache
def authenticated_client_class(identity: AdminIdentity) -> type[AuthenticatedClient]:
    return type("AuthenticatedClient", (AuthenticatedClient,), {"identity": identity})


def close_pool(app: Flask) -> None:
    """Close the connections `app`'s engine holds. Left to the garbage collector, a psycopg
    connection warns (ResourceWarning) in whichever later test the collection happens to run,
    and warnings are errors here; SQLite connections do not warn, so only PostgreSQL shows it."""
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def make_app() -> Iterator[AppFactory]:
    """`create_app` for a test that needs an app of its own; each one's pool is closed after."""
    apps: list[Flask] = []

    def make(config: dict[str, Any]) -> Flask:
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_pool(app)


@pytest.fixture
def app(
    stack_settings: dict[str, str],
    worker: Path,
    smtp_server: ScriptedSMTPServer,
    admin_identity: AdminIdentity,
) -> Iterator[Flask]:
    smtp_server.reset()
    app = create_app(app_config(stack_settings))
    app.test_client_class = authenticated_client_class(admin_identity)
    yield app
    close_pool(app)  # each test's app has its own pool; close it, not the GC


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Signed in as the test admin (session and bearer token)."""
    return app.test_client()


@pytest.fixture
def anonymous_client(app: Flask) -> FlaskClient:
    """Nobody signed in, no token: what a stranger reaching the port gets."""
    return FlaskClient(app, app.response_class, use_cookies=True)


def sign_in(page: Page, base_url: str, identity: AdminIdentity) -> None:
    """Sign a Playwright page in through the real login form."""
    page.goto(base_url + "/login")
    page.fill("#email", identity.email)
    page.fill("#password", identity.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def unique() -> str:
    """A token to keep this test's addresses apart from every other test's."""
    return f"{time.monotonic_ns():x}"


def messages_of(app: Flask, campaign_id: int) -> list[Message]:
    with app.app_context():
        db.session.expire_all()
        messages = db.session.scalars(
            select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)
        ).all()
        for message in messages:
            db.session.expunge(message)
        return list(messages)


def wait_for_final(app: Flask, campaign_id: int, timeout: float = 30) -> list[Message]:
    """Wait until every message of the campaign is in a final state; return them."""

    def final() -> list[Message] | None:
        messages = messages_of(app, campaign_id)
        return messages if messages and all(m.status in FINAL_STATUSES for m in messages) else None

    return wait_until(final, timeout=timeout, what=f"campaign {campaign_id} to finish")


def count_rows(app: Flask, model: type) -> int:
    with app.app_context():
        return len(db.session.scalars(select(model.id)).all())


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """`app` behind a real threaded HTTP server on a free loopback port, so requests truly
    overlap (a browser, or many clients at once); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    with serving(app) as url:
        yield url
