"""Settings, each read from the environment (and `.env`) with its embedded default beside it.

`.env.example` documents every variable listed here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet
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


def _instance_file(name: str, make: Callable[[], str], *, create: bool = True) -> str:
    """A value kept in the instance folder (owner-only), made by `make` on the first start
    (with `create`; otherwise "" until then). Every process sharing the folder (web, workers,
    beat) reads the same one."""
    path = INSTANCE_DIR / name
    if not path.exists():
        if not create:
            return ""
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        draft = INSTANCE_DIR / f".{name}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(make())
        try:
            os.link(draft, path)  # whole or not at all; a process that got there first wins
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text().strip()


def instance_secret_key() -> str:
    """The key used when SECRET_KEY is not set: random, made on the first start and kept in the
    instance folder, so that a quick start is not signed with a key anyone can read in this
    repository."""
    return _instance_file("secret_key", lambda: secrets.token_urlsafe(48))


def account_keys_setting(configured: str) -> str:
    """ACCOUNT_KEYS as the app uses it. Unset, a Fernet key made on the first start and kept in
    the instance folder (`account_key`), so that a quick start can save an account's password.
    Set, the instance folder's key, if one was made, comes last: it seals nothing then, but the
    secrets it sealed stay readable until `flask accounts rotate-key` seals them again with the
    first key."""
    if not configured.strip():
        try:
            return _instance_file("account_key", lambda: Fernet.generate_key().decode())
        except OSError:  # a read-only folder: no account can hold a secret until it is set
            return ""
    made_here = _instance_file("account_key", str, create=False)
    return f"{configured},{made_here}" if made_here else configured


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
        # How long a web process remembers a live API token's user (see auth/tokens.py): a
        # revoked token or a disabled user stops working within this many seconds; 0: never.
        "API_TOKEN_CACHE_SECONDS": _float("API_TOKEN_CACHE_SECONDS", 5.0),
        "MAIL_MAX_RETRIES": _int("MAIL_MAX_RETRIES", 5),
        "MAIL_RETRY_BASE_SECONDS": _float("MAIL_RETRY_BASE_SECONDS", 10.0),
        "MAIL_RETRY_MAX_SECONDS": _float("MAIL_RETRY_MAX_SECONDS", 600.0),
        # Time: the zone the dashboard shows and reads times in (stored times are always UTC).
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "UTC"),
        # Beat: how often due scheduled/retrying messages are queued, and stale rows swept.
        "DISPATCH_INTERVAL_SECONDS": _float("DISPATCH_INTERVAL_SECONDS", 2.0),
        "SWEEP_INTERVAL_SECONDS": _float("SWEEP_INTERVAL_SECONDS", 10.0),
        "STALE_QUEUED_SECONDS": _float("STALE_QUEUED_SECONDS", 600.0),
        # A row `queued` this long while its lane's broker queue is empty has lost its task (a
        # wiped or purged broker): the sweeper publishes it again.
        "QUEUED_RECHECK_SECONDS": _float("QUEUED_RECHECK_SECONDS", 60.0),
        # A batch holds its rows by a lease of this many seconds, renewed every third of it
        # while it works: a batch that died gives its rows back this long after its last renewal.
        "LEASE_SECONDS": _float("LEASE_SECONDS", 45.0),
        # Fernet keys (comma-separated; the first encrypts, every one decrypts) that seal the
        # sending accounts' passwords and tokens. Not SECRET_KEY: rotating one leaves the other.
        # Without it, a key kept in the instance folder (`account_keys_setting`).
        "ACCOUNT_KEYS": account_keys_setting(os.environ.get("ACCOUNT_KEYS", "")),
        # While the SMTP account is held (unreachable, login refused), how often beat tries it.
        "ACCOUNT_PROBE_SECONDS": _float("ACCOUNT_PROBE_SECONDS", 15.0),
        # Uploaded campaigns never sent are removed, rows and file, after this many hours.
        "DRAFT_MAX_AGE_HOURS": _float("DRAFT_MAX_AGE_HOURS", 24.0),
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
        **bounce_settings(),
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
        # Ids per bulk task. A batch claims only what its pace sends in a slice (see
        # sending/slices.py), so a large one costs a slow server nothing; on a fast one each
        # task's hand-over, claim and SMTP session serve more messages.
        "BULK_BATCH_SIZE": _int("BULK_BATCH_SIZE", 2000),
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
        **webhook_settings(),
    }


def webhook_settings() -> dict[str, Any]:
    """Delivery webhooks (see dashboard/webhooks/): the beat's pace, retries, HTTP timeouts."""
    production = os.environ.get("APP_ENV", "development").strip().lower() == "production"
    return {
        # How often the beat sends what the outbox holds, and for how long one run may go on.
        "WEBHOOK_DELIVERY_INTERVAL_SECONDS": _float("WEBHOOK_DELIVERY_INTERVAL_SECONDS", 2.0),
        "WEBHOOK_RUN_SECONDS": _float("WEBHOOK_RUN_SECONDS", 5.0),
        # Retries: exponential from the base up to the cap, for this long after the event.
        "WEBHOOK_RETRY_BASE_SECONDS": _float("WEBHOOK_RETRY_BASE_SECONDS", 5.0),
        "WEBHOOK_RETRY_MAX_SECONDS": _float("WEBHOOK_RETRY_MAX_SECONDS", 3600.0),
        "WEBHOOK_RETRY_FOR_SECONDS": _float("WEBHOOK_RETRY_FOR_SECONDS", 86400.0),
        # An endpoint that has failed every attempt for this long is disabled.
        "WEBHOOK_DISABLE_AFTER_SECONDS": _float("WEBHOOK_DISABLE_AFTER_SECONDS", 86400.0),
        # Each HTTP call: connect and each read wait at most this long.
        "WEBHOOK_TIMEOUT_SECONDS": _float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        # Loopback and private addresses are refused as targets in production unless allowed.
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": _bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", not production),
        "WEBHOOK_MAX_ENDPOINTS_PER_USER": _int("WEBHOOK_MAX_ENDPOINTS_PER_USER", 20),
        # Delivered and failed events, with their attempts' logs, are deleted this many days
        # after their last attempt (0: kept for ever); pending ones are never deleted.
        "WEBHOOK_RETENTION_DAYS": _float("WEBHOOK_RETENTION_DAYS", 30.0),
    }


def bounce_settings() -> dict[str, Any]:
    """Bounces and complaints read back (see docs/bounces.md)."""
    return {
        # Each message goes out from `BOUNCE_LOCAL_PART+<signed token>@BOUNCE_DOMAIN` when the
        # domain is set; empty keeps the campaign's From address as the envelope sender.
        "BOUNCE_DOMAIN": os.environ.get("BOUNCE_DOMAIN", "").strip().lower(),
        "BOUNCE_LOCAL_PART": os.environ.get("BOUNCE_LOCAL_PART", "bounces").strip(),
        # Signs the bounce addresses; SECRET_KEY when empty.
        "BOUNCE_SECRET": os.environ.get("BOUNCE_SECRET", ""),
        # Soft bounces (4.x.x) of one address before it is suppressed.
        "SOFT_BOUNCE_THRESHOLD": _int("SOFT_BOUNCE_THRESHOLD", 3),
        # Pause a campaign once this share of its delivered messages bounced (0 = never), after
        # at least BOUNCE_PAUSE_MIN_SENT of them.
        "BOUNCE_PAUSE_PERCENT": _float("BOUNCE_PAUSE_PERCENT", 10.0),
        "BOUNCE_PAUSE_MIN_SENT": _int("BOUNCE_PAUSE_MIN_SENT", 50),
        # A mailbox beat reads bounces from (empty host: none). Mode: imaps, starttls or plain.
        "BOUNCE_IMAP_HOST": os.environ.get("BOUNCE_IMAP_HOST", ""),
        "BOUNCE_IMAP_PORT": _int("BOUNCE_IMAP_PORT", 993),
        "BOUNCE_IMAP_MODE": os.environ.get("BOUNCE_IMAP_MODE", "imaps").strip().lower(),
        "BOUNCE_IMAP_USER": os.environ.get("BOUNCE_IMAP_USER", ""),
        "BOUNCE_IMAP_PASSWORD": os.environ.get("BOUNCE_IMAP_PASSWORD", ""),
        "BOUNCE_IMAP_FOLDER": os.environ.get("BOUNCE_IMAP_FOLDER", "INBOX"),
        # Where read mail is moved (empty: it stays, flagged as seen, and is not read again).
        "BOUNCE_IMAP_DONE_FOLDER": os.environ.get("BOUNCE_IMAP_DONE_FOLDER", ""),
        # A CA file to trust for the mailbox's certificate (empty: the system's store).
        "BOUNCE_IMAP_CA_FILE": os.environ.get("BOUNCE_IMAP_CA_FILE", ""),
        "BOUNCE_IMAP_INTERVAL_SECONDS": _float("BOUNCE_IMAP_INTERVAL_SECONDS", 60.0),
        "BOUNCE_IMAP_MAX_MESSAGES": _int("BOUNCE_IMAP_MAX_MESSAGES", 200),
        # Amazon SES notifications through SNS, at /bounces/ses (off unless set).
        "SES_SNS_ENABLED": _bool("SES_SNS_ENABLED", False),
        # Comma-separated SNS topic ARNs the endpoint takes (empty: any topic SNS signs for).
        "SES_SNS_TOPIC_ARNS": os.environ.get("SES_SNS_TOPIC_ARNS", ""),
        # Tests only: a loopback host whose signing certificate URL is trusted besides AWS's.
        "SNS_TRUSTED_CERT_HOST": os.environ.get("SNS_TRUSTED_CERT_HOST", ""),
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


def celery_settings(
    broker_url: str, result_backend: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Celery's configuration: ids only on the wire, late acks, one task prefetched per process.

    An `sqs://` broker takes its own settings from `environ` (the process's environment by
    default; tests pass the mapping their workers get): see `sqs_celery_settings`."""
    settings = {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Redis redelivers an unacked task (its whole worker was killed) once this many seconds
        # have passed, checking every 10 s (kombu's default checks every 100 s); the claim and
        # the lease make an early redelivery of a task still running harmless (it claims
        # nothing), so the wait is short: within it, the dead worker's unstarted batches come
        # back. A killed child process's task is requeued at once (task_reject_on_worker_lost).
        "broker_transport_options": {
            "visibility_timeout": _int("CELERY_VISIBILITY_TIMEOUT", 60),
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
    if uses_project_redis_transport(broker_url):
        settings["broker_transport"] = "dashboard.sending.redis_transport:Transport"
    if is_sqs(broker_url):
        settings.update(sqs_celery_settings(broker_url, os.environ if environ is None else environ))
    return settings


def uses_project_redis_transport(broker_url: str) -> bool:
    """Whether the workers use the project's Redis transport (Kombu's, surviving a broker lost
    while tasks are unacknowledged: `dashboard/sending/redis_transport.py`). Named by a setting,
    the transport no longer tells Kombu the URL said `rediss://`, and Kombu's TLS without
    certificate checks for a `rediss://` URL that names no `ssl_cert_reqs` would become plain
    TCP: such a URL keeps Kombu's own transport."""
    if broker_url.startswith("redis://"):
        return True
    return broker_url.startswith("rediss://") and "ssl_cert_reqs=" in urlsplit(broker_url).query


# --- Amazon SQS as the broker (Kombu's SQS transport; docs/operations.md#amazon-sqs) -----------
SQS_MAX_WAIT_SECONDS = 20  # SQS's own bound on long polling
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600  # and on a message's visibility timeout


def is_sqs(broker_url: str) -> bool:
    return broker_url.startswith("sqs://")


def _setting(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "")
    return value.strip() or default


def sqs_predefined_queues(named: str, prefix: str) -> dict[str, dict[str, str]]:
    """`SQS_PREDEFINED_QUEUES` (`transactional=https://...,bulk=https://...`) as Kombu's
    `predefined_queues`: the queues exist already and are used by URL, never created."""
    queues: dict[str, dict[str, str]] = {}
    for pair in named.split(","):
        name, _, url = pair.strip().partition("=")
        if name.strip() and url.strip():
            queues[prefix + name.strip()] = {"url": url.strip()}
    return queues


def sqs_celery_settings(broker_url: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """What an `sqs://` broker changes. Credentials are not settings of this project: boto3
    reads them from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN), a profile or an instance role, and nothing here logs them.

    SQS carries no broadcast: no remote control (`inspect`, `revoke`) and no events, so the
    workers are told not to send or expect them (the live panel says so instead of asking)."""
    prefix = _setting(environ, "SQS_QUEUE_NAME_PREFIX", "dispatcher-")
    options: dict[str, Any] = {
        "queue_name_prefix": prefix,
        # A queue's visibility timeout is set when Kombu creates it; see check_visibility_timeout.
        "visibility_timeout": int(_setting(environ, "CELERY_VISIBILITY_TIMEOUT", "900")),
        "wait_time_seconds": int(_setting(environ, "SQS_WAIT_TIME_SECONDS", "10")),
        "polling_interval": float(_setting(environ, "SQS_POLLING_INTERVAL", "1")),
    }
    region = _setting(environ, "SQS_REGION", "")
    if region:
        options["region"] = region
    predefined = sqs_predefined_queues(_setting(environ, "SQS_PREDEFINED_QUEUES", ""), prefix)
    if predefined:
        options["predefined_queues"] = predefined
    endpoint = _setting(environ, "SQS_ENDPOINT_URL", "")
    if endpoint:  # Kombu takes the endpoint from the broker URL's host and port
        parts, wanted = urlsplit(broker_url), urlsplit(endpoint)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@{wanted.netloc}" if credentials else wanted.netloc
        broker_url = urlunsplit(parts._replace(netloc=netloc))
        options["is_secure"] = wanted.scheme == "https"
    return {
        # Read and write URLs too: Celery prefers the CELERY_BROKER_URL variable to broker_url.
        "broker_url": broker_url,
        "broker_read_url": broker_url,
        "broker_write_url": broker_url,
        "broker_transport_options": options,
        # Kombu's SQS transport, made to keep polling through an outage (see that module).
        "broker_transport": "dashboard.sending.sqs_transport:Transport",
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }
