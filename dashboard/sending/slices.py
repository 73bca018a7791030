"""Bulk batches cut by time: a campaign's batch never holds a worker process for more than about
BULK_SLICE_SECONDS of sending, so that pauses, other campaigns and the beat jobs get their turn
and a rate-limited campaign does not sit on processes waiting for tokens.

Under a per-second rate a batch claims only what that rate lets it send in one slice and puts
the rest of its ids back on the queue as a new task, unclaimed (one publish, no row touched).
With no rate, what the process's last bulk batch sent per second stands for it (with room to
grow, and never fewer than PACED_FLOOR ids): a large batch on a slow server claims and renders
what it can send, not thousands it would give back. Whatever the pace, a batch stops handing
out messages once its slice is over, and what it claimed and did not send is given back
(`holds.release_unsent`) and published again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from dashboard.sending.publishing import cut_batches, publish_batches

T = TypeVar("T")


def slice_seconds(config: Mapping[str, Any]) -> float:
    return max(0.1, float(config["BULK_SLICE_SECONDS"]))


#: With no rate limit, a batch keeps at least this many ids whatever the last one's pace (as
#: many as a whole batch held when BULK_BATCH_SIZE was 500), and this many times what that
#: pace sends in a slice, so that a pace that was held back can grow again.
PACED_FLOOR = 500
PACED_ROOM = 2.0
# Messages per second of this process's last bulk batch (a prefork process runs one at a time).
_last_pace: dict[str, float] = {}


def note_pace(sent: int, seconds: float) -> None:
    """Remember how fast a bulk batch of this process sent (`sent` messages in `seconds`)."""
    if sent > 0 and seconds > 0:
        _last_pace["bulk"] = sent / seconds


def split_for_rate(message_ids: Sequence[int], config: Mapping[str, Any]) -> tuple[list, list]:
    """The ids a bulk batch keeps (what the configured rate, or else the last batch's pace,
    sends in one slice) and the rest."""
    per_second = float(config["RATE_LIMIT_PER_SECOND"])
    ids = list(message_ids)
    if per_second > 0:
        keep = max(1, int(per_second * slice_seconds(config)))
    elif "bulk" in _last_pace:
        paced = int(_last_pace["bulk"] * slice_seconds(config) * PACED_ROOM)
        keep = max(PACED_FLOOR, paced)
    else:
        return ids, []
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
