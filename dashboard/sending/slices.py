"""Bulk batches cut by time: a campaign's batch never holds a worker process for more than about
BULK_SLICE_SECONDS of sending, so that pauses, other campaigns and the beat jobs get their turn
and a rate-limited campaign does not sit on processes waiting for tokens.

Under a per-second rate a batch claims only what that rate lets it send in one slice and puts
the rest of its ids back on the queue as a new task, unclaimed (one publish, no row touched);
whatever rate applies, a batch stops handing out messages once its slice is over, and what it
claimed and did not send is given back (`holds.release_unsent`) and published again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from dashboard.sending.publishing import cut_batches, publish_batches

T = TypeVar("T")


def slice_seconds(config: Mapping[str, Any]) -> float:
    return max(0.1, float(config["BULK_SLICE_SECONDS"]))


def split_for_rate(message_ids: Sequence[int], config: Mapping[str, Any]) -> tuple[list, list]:
    """The ids a bulk batch keeps (what the configured rate sends in one slice) and the rest."""
    per_second = float(config["RATE_LIMIT_PER_SECOND"])
    ids = list(message_ids)
    if per_second <= 0:
        return ids, []
    keep = max(1, int(per_second * slice_seconds(config)))
    return ids[:keep], ids[keep:]


def put_back(message_ids: Sequence[int], queue: str) -> int:
    """Publish ids a batch will not claim as new batches on `queue`; how many were published.
    A broker that cannot be reached loses nothing: the rows stay `queued` for the sweeper."""
    batches = cut_batches(list(message_ids), queue)
    published = publish_batches(batches, queue=queue)
    return sum(len(batch.message_ids) for batch in batches[:published])


def until_slice_ends(items: Iterable[T], seconds: float) -> Iterator[T]:
    """Hand out items until `seconds` have passed since the first one."""
    deadline = None
    for item in items:
        now = time.monotonic()
        if deadline is None:
            deadline = now + seconds
        elif now >= deadline:
            return
        yield item
