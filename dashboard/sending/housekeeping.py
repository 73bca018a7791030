"""When the beat jobs last ran: each run of the dispatcher, the sweeper and the account probe
stamps a Redis key (REDIS_URL) when it is done, and the live panel reads the stamps to say when
each last ran and whether it is late.

The jobs have their own queue and worker and no expiry, so a stopped worker finds a pile of runs
when it comes back; a run that finds another started less than half a period ago returns at
once (one Redis read), so the pile costs nothing and nothing is discarded silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from dashboard.sending.redis_clients import redis_client

log = logging.getLogger(__name__)

KEY_PREFIX = "dispatcher:housekeeping:"
# The panel asks on every poll: a store that does not answer must not slow it down.
TIMEOUT_SECONDS = 0.5
# A job is late when it has not run for this many of its periods (and at least LATE_MIN_SECONDS).
LATE_AFTER_PERIODS = 3
LATE_MIN_SECONDS = 10.0

#: Each job, the setting that holds its period, and what the panel calls it.
JOBS: dict[str, tuple[str, str]] = {
    "dispatch": ("DISPATCH_INTERVAL_SECONDS", "dispatcher"),
    "sweep": ("SWEEP_INTERVAL_SECONDS", "sweeper"),
    "probe": ("ACCOUNT_PROBE_SECONDS", "account probe"),
}


def period_of(job: str, config: Mapping[str, Any]) -> float:
    return float(config[JOBS[job][0]])


def ran_recently(job: str, config: Mapping[str, Any]) -> bool:
    """Whether a run of `job` started less than half its period ago (then this one, piled up
    behind it, need not run); otherwise this run is noted as started."""
    try:
        client = redis_client(config["REDIS_URL"], TIMEOUT_SECONDS)
        started = client.get(_started_key(job))
        if started is not None and time.time() - float(started) < period_of(job, config) / 2:
            return True
        note_started(job, config)
    except redis.RedisError:
        pass  # no stamp to go by: run
    return False


def note_started(job: str, config: Mapping[str, Any]) -> None:
    """Note a run of `job` as started now: the runs after it stand aside for half a period.
    Raises what Redis raises."""
    client = redis_client(config["REDIS_URL"], TIMEOUT_SECONDS)
    client.set(_started_key(job), repr(time.time()), ex=7 * 24 * 3600)


def _started_key(job: str) -> str:
    return f"{KEY_PREFIX}{job}:started"


def stamp_run(job: str, config: Mapping[str, Any]) -> None:
    """Record that `job` has just finished a run (a store that is away only loses the stamp)."""
    try:
        redis_client(config["REDIS_URL"], TIMEOUT_SECONDS).set(
            KEY_PREFIX + job, repr(time.time()), ex=7 * 24 * 3600
        )
    except redis.RedisError as error:
        log.warning("could not stamp the %s run: %s", job, error)


@dataclass(frozen=True)
class JobRun:
    """What the panel shows of one job: when it last ran, and whether that is too long ago."""

    job: str
    label: str
    period_seconds: float
    last_ran: datetime | None  # aware UTC; None when no run is recorded
    seconds_ago: float | None
    late: bool


def last_runs(config: Mapping[str, Any]) -> list[JobRun] | None:
    """Each job's last run, or None when the store cannot be asked."""
    try:
        stamps = redis_client(config["REDIS_URL"], TIMEOUT_SECONDS).mget(
            [KEY_PREFIX + job for job in JOBS]
        )
    except redis.RedisError as error:
        log.warning("could not read the housekeeping stamps: %s", error)
        return None
    now = time.time()
    runs = []
    for (job, (_, label)), stamp in zip(JOBS.items(), stamps, strict=True):
        period = period_of(job, config)
        late_after = max(LATE_AFTER_PERIODS * period, LATE_MIN_SECONDS)
        if stamp is None:
            runs.append(JobRun(job, label, period, None, None, True))
            continue
        at = float(stamp)
        ago = max(now - at, 0.0)
        runs.append(
            JobRun(job, label, period, datetime.fromtimestamp(at, UTC), ago, ago > late_after)
        )
    return runs
