"""`/healthz` (the process answers) and `/readyz` (the database, the broker and the SMTP server
answer), as JSON for load balancers, orchestrators and people."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Response, current_app, jsonify, request

from dashboard.auth import public
from dashboard.ops.account_status import probe_account_hold
from dashboard.ops.probes import ProbeResult, probe_broker, probe_database, probe_smtp
from dashboard.sending.queues import QUEUES

health = Blueprint("health", __name__)


# Probes carry no session, so both answer without a login; they show reachability, never a secret.
@health.get("/healthz")
@public
def healthz() -> Response:
    """The process is up and serving requests; it checks nothing else, so it is always cheap."""
    return jsonify(status="ok")


@health.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """200 when every part answers within its short timeout, else 503; each check by name.
    `smtp_account` fails while the account's mail is held (its server unreachable, or its
    login refused), with the reason: the server may answer its greeting and still refuse.

    `?needs=database,broker` makes only those checks decide the status (every check is still
    shown): a web pod can serve its pages while the SMTP server is down, so an orchestrator's
    readiness probe should not take it out of service for that."""
    needs = _needed_checks(request.args.get("needs"))
    if isinstance(needs, str):
        return jsonify(error=needs), 400
    app = current_app._get_current_object()
    # In parallel, so a dead part costs one timeout, not the sum of them.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(probe_database, app),
            pool.submit(probe_broker, app, QUEUES),
            pool.submit(probe_smtp, app),
            pool.submit(probe_account_hold, app),
        ]
        results: list[ProbeResult] = [future.result() for future in futures]
    ready = all(result.ok for result in results if needs is None or result.name in needs)
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": {result.name: result.as_dict() for result in results},
    }
    return jsonify(body), 200 if ready else 503


CHECKS = ("database", "broker", "smtp", "smtp_account")


def _needed_checks(value: str | None) -> set[str] | str | None:
    """The checks named in `needs` (None: all of them), or a message naming the unknown ones."""
    if value is None:
        return None
    named = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(named - set(CHECKS))
    if unknown or not named:
        return f"needs takes a comma-separated list of {', '.join(CHECKS)}; got {value[:80]!r}"
    return named
