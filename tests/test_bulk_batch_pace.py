"""How many of its ids a bulk batch claims: what the rate sends in one time slice, or, with no
rate, what the worker process's last batch sent per second (doubled, never below 500), so that a
batch of 2,000 ids on a slow server does not claim and render thousands it would give back."""

from __future__ import annotations

import pytest

from dashboard.sending import slices

IDS = list(range(1, 2001))


@pytest.fixture(autouse=True)
def no_pace_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slices, "_last_pace", {})


def config(rate: float = 0.0) -> dict[str, float]:
    return {"RATE_LIMIT_PER_SECOND": rate, "BULK_SLICE_SECONDS": 2.0}


def test_a_first_batch_with_no_rate_keeps_every_id() -> None:
    assert slices.split_for_rate(IDS, config()) == (IDS, [])


def test_a_rate_keeps_what_it_sends_in_a_slice_whatever_the_pace() -> None:
    slices.note_pace(5000, 1.0)
    kept, rest = slices.split_for_rate(IDS, config(rate=50))
    assert kept == IDS[:100] and rest == IDS[100:]


def test_a_slow_server_gets_what_its_pace_sends_in_a_slice_with_room_to_grow() -> None:
    slices.note_pace(400, 2.0)  # 200 a second: 400 a slice, 800 with room
    kept, rest = slices.split_for_rate(IDS, config())
    assert kept == IDS[:800] and rest == IDS[800:]


def test_a_very_slow_server_still_gets_500_and_a_fast_one_everything() -> None:
    slices.note_pace(10, 2.0)
    kept, rest = slices.split_for_rate(IDS, config())
    assert len(kept) == slices.PACED_FLOOR == 500 and kept + rest == IDS
    slices.note_pace(5000, 2.0)
    assert slices.split_for_rate(IDS, config()) == (IDS, [])


def test_a_batch_that_sent_nothing_leaves_the_pace_as_it_was() -> None:
    slices.note_pace(400, 2.0)
    slices.note_pace(0, 2.0)
    slices.note_pace(10, 0.0)
    assert len(slices.split_for_rate(IDS, config())[0]) == 800
