"""Settings, each read from the environment (and `.env`) with its embedded default beside it.

`.env.example` documents every variable listed here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Loaded on import so that INSTANCE_DIR below sees it; the environment wins over the file.
load_dotenv(PROJECT_ROOT / ".env", override=False)
INSTANCE_DIR = PROJECT_ROOT / os.environ.get("INSTANCE_DIR", "instance")
# The key this project's .env.example once shipped: refused in production wherever it is set.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"
MB = 1024 * 1024


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


# Always trusted unless TRUSTED_HOSTS names the hosts itself: `make run` answers on these.
# (Werkzeug cannot match an IPv6 literal such as [::1]: reach the app by a name or IPv4.)
LOCAL_HOSTS = ("localhost", "127.0.0.1")


def trusted_hosts(named: str, public_base_url: str) -> list[str] | None:
    """The Host headers the app answers (others get a 400): those named (comma-separated,
    `.example.com` for a domain and its subdomains, `*` for any), or by default the loopback
    names and PUBLIC_BASE_URL's host."""
    hosts = [host.strip() for host in named.split(",") if host.strip()]
    if hosts == ["*"]:
        return None
    if hosts:
        return hosts
    public_host = urlsplit(public_base_url).hostname or ""
    return list(dict.fromkeys([*LOCAL_HOSTS, *([public_host] if public_host else [])]))


def instance_secret_key() -> str:
    """The key used when SECRET_KEY is not set: random, made on the first start and kept in the
    instance folder (owner-only), so that a quick start is not signed with a key anyone can read
    in this repository. Every process sharing the folder (web, workers, beat) reads the same one.
    """
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        draft = INSTANCE_DIR / f".secret_key.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # whole or not at all; a process that got there first wins
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text().strip()


def load_settings() -> dict[str, Any]:
    """Read every setting from the environment (and `.env`), with defaults."""
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    broker_url = os.environ.get("CELERY_BROKER_URL", redis_url)
    database_url = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'dashboard.db'}")
    public_base_url = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or instance_secret_key(),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        # Outgoing mail. The defaults point at the embedded catcher (`flask mail-catcher`).
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": _int("MAIL_PORT", 1025),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_TIMEOUT": _float("MAIL_TIMEOUT", 30.0),
        "MAIL_DEFAULT_SENDER": os.environ.get(
            "MAIL_DEFAULT_SENDER", "Email Dispatcher <dispatcher@example.com>"
        ),
        # Domain part of generated Message-IDs; defaults to the sender's domain.
        "MAIL_MESSAGE_ID_DOMAIN": os.environ.get("MAIL_MESSAGE_ID_DOMAIN", ""),
        "MAIL_BATCH_SIZE": _int("MAIL_BATCH_SIZE", 50),
        "MAIL_MAX_RETRIES": _int("MAIL_MAX_RETRIES", 5),
        "MAIL_RETRY_BASE_SECONDS": _float("MAIL_RETRY_BASE_SECONDS", 10.0),
        "MAIL_RETRY_MAX_SECONDS": _float("MAIL_RETRY_MAX_SECONDS", 600.0),
        # Time: the zone the dashboard shows and reads times in (stored times are always UTC).
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "UTC"),
        # Beat: how often due scheduled/retrying messages are queued, and stale rows swept.
        "DISPATCH_INTERVAL_SECONDS": _float("DISPATCH_INTERVAL_SECONDS", 2.0),
        "SWEEP_INTERVAL_SECONDS": _float("SWEEP_INTERVAL_SECONDS", 30.0),
        "STALE_QUEUED_SECONDS": _float("STALE_QUEUED_SECONDS", 600.0),
        "STALE_SENDING_SECONDS": _float("STALE_SENDING_SECONDS", 600.0),
        # Fernet keys (comma-separated; the first encrypts, every one decrypts) that seal the
        # sending accounts' passwords and tokens. Not SECRET_KEY: rotating one leaves the other.
        "ACCOUNT_KEYS": os.environ.get("ACCOUNT_KEYS", ""),
        # While the SMTP account is held (unreachable, login refused), how often beat tries it.
        "ACCOUNT_PROBE_SECONDS": _float("ACCOUNT_PROBE_SECONDS", 15.0),
        # Shared rate limit per SMTP account, across every worker (0 = no limit).
        "RATE_LIMIT_PER_SECOND": _float("RATE_LIMIT_PER_SECOND", 0.0),
        "RATE_LIMIT_PER_DAY": _int("RATE_LIMIT_PER_DAY", 0),
        # The share of the daily quota campaigns cannot spend: kept for single emails.
        "RATE_LIMIT_TRANSACTIONAL_RESERVE_PERCENT": _float(
            "RATE_LIMIT_TRANSACTIONAL_RESERVE_PERCENT", 10.0
        ),
        "RATE_LIMIT_REDIS_URL": os.environ.get("RATE_LIMIT_REDIS_URL", redis_url),
        # Failure guard: pause a campaign past this share of failures in its last attempts.
        "FAILURE_PAUSE_PERCENT": _float("FAILURE_PAUSE_PERCENT", 5.0),
        "FAILURE_PAUSE_WINDOW": _int("FAILURE_PAUSE_WINDOW", 200),
        # The embedded SMTP catcher's listening address (used by `flask mail-catcher`).
        "CATCHER_HOST": os.environ.get("CATCHER_HOST", "127.0.0.1"),
        "CATCHER_PORT": _int("CATCHER_PORT", 1025),
        # Input limits: a clear error past each.
        "MAX_CONTENT_LENGTH": _int("MAX_REQUEST_MB", 30) * MB,
        "MAX_FORM_MEMORY_SIZE": _int("MAX_BODY_MB", 2) * MB + 64 * 1024,
        "MAX_BODY_BYTES": _int("MAX_BODY_MB", 2) * MB,
        "MAX_ATTACHMENTS_BYTES": _int("MAX_ATTACHMENTS_MB", 20) * MB,
        "MAX_RECIPIENTS_PER_REQUEST": _int("MAX_RECIPIENTS_PER_REQUEST", 1000),
        # How long a request with an Idempotency-Key waits for an earlier one with the same key
        # that is still being stored (PostgreSQL; SQLite waits its lock timeout, 30 s), then 409.
        "IDEMPOTENCY_WAIT_SECONDS": _float("IDEMPOTENCY_WAIT_SECONDS", 30.0),
        # The attempts /metrics describes: those finished in the last this many seconds.
        "METRICS_WINDOW_SECONDS": _int("METRICS_WINDOW_SECONDS", 300),
        # CSV campaigns: upload and row limits, ids per bulk task, the base of unsubscribe links.
        "CSV_MAX_UPLOAD_MB": _int("CSV_MAX_UPLOAD_MB", 100),
        "CSV_MAX_ROWS": _int("CSV_MAX_ROWS", 1_000_000),
        # Fields and bytes of one CSV row: a wider or longer row is refused, naming its line.
        "CSV_MAX_FIELDS": _int("CSV_MAX_FIELDS", 1000),
        "CSV_MAX_ROW_KB": _int("CSV_MAX_ROW_KB", 1024),
        # What one merged message may render to (subject and bodies), in bytes: rendering stops
        # there and that recipient is refused, at preview and at send time.
        "MERGE_MAX_RENDERED_BYTES": _int("MERGE_MAX_RENDERED_BYTES", MB),
        "BULK_BATCH_SIZE": _int("BULK_BATCH_SIZE", 500),
        # A bulk batch sends for at most about this long, then gives its rest back to the queue.
        "BULK_SLICE_SECONDS": _float("BULK_SLICE_SECONDS", 2.0),
        # Where people and programs reach the app: the start of every link it builds for
        # mail and API answers (never the request's Host header).
        "PUBLIC_BASE_URL": public_base_url,
        "TRUSTED_HOSTS": trusted_hosts(os.environ.get("TRUSTED_HOSTS", ""), public_base_url),
        "CELERY": celery_settings(
            broker_url, os.environ.get("CELERY_RESULT_BACKEND", default_result_backend(broker_url))
        ),
        "REDIS_URL": redis_url,
        **security_settings(),
    }


def security_settings() -> dict[str, Any]:
    """Sign-in, sessions and the production switch (see dashboard/auth/)."""
    app_env = os.environ.get("APP_ENV", "development").strip().lower()
    return {
        # `production` refuses the default SECRET_KEY and makes cookies Secure (HTTPS only).
        "APP_ENV": app_env,
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", app_env == "production"),
        "SESSION_LIFETIME_HOURS": _int("SESSION_LIFETIME_HOURS", 12),
        # Failed sign-ins allowed per address and per client IP within the lockout window.
        "LOGIN_MAX_FAILURES_PER_ADDRESS": _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int("LOGIN_MAX_FAILURES_PER_IP", 20),
        "LOGIN_LOCKOUT_MINUTES": _int("LOGIN_LOCKOUT_MINUTES", 15),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted.
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
    }


def default_result_backend(broker_url: str) -> str:
    """Task states live in Redis: the broker itself when it is Redis, else REDIS_URL.

    RabbitMQ cannot hold them (Celery 5 has no `amqp` result backend, and `rpc://` answers
    only the process that sent the task, not the dashboard asking later).
    """
    if broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLite waits for locks instead of failing at once (web, worker and catcher share it);
    PostgreSQL gives up connecting after a few seconds, so a dead server is reported, not waited
    on forever."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    if database_url.startswith("postgresql"):
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}
    return {"pool_pre_ping": True}


def celery_settings(broker_url: str, result_backend: str) -> dict[str, Any]:
    """Celery's configuration: ids only on the wire, late acks, one task prefetched per process."""
    return {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Redis redelivers an unacked task (its whole worker was killed) once this many seconds
        # have passed, checking every 10 s (kombu's default checks every 100 s); the claim makes
        # an early redelivery of a task still running harmless. A killed child process's task is
        # requeued at once (task_reject_on_worker_lost).
        "broker_transport_options": {
            "visibility_timeout": _int("CELERY_VISIBILITY_TIMEOUT", 900),
            "unacked_restore_throttle": 1,
        },
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "transactional",
        "result_expires": 7 * 24 * 3600,
        "broker_connection_retry_on_startup": True,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule_filename": str(INSTANCE_DIR / "celerybeat-schedule"),
    }
