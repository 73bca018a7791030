"""A quiet first run: the periodic jobs' per-run lines only at DEBUG, and the one thing to do
next (the setup link) printed last, in a box."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

import run
from dashboard.ops.quiet_ticks import PeriodicTickFilter


@pytest.fixture
def celery_log(app: Flask) -> Iterator[tuple[io.StringIO, logging.Logger]]:
    names = {entry["task"] for entry in app.extensions["celery"].conf.beat_schedule.values()}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PeriodicTickFilter(names))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream, logging.getLogger("celery.beat")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_beat_ticks_log_only_at_debug_and_warnings_always(celery_log) -> None:
    stream, beat = celery_log
    beat.info("Scheduler: Sending due task %s (%s)", "dispatch-due", "dashboard.dispatch_due")
    logging.getLogger("celery.app.trace").info(
        "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return)s",
        {"name": "dashboard.sweep_stale", "id": "1", "runtime": 0.01, "return": None},
    )
    beat.info("beat: Starting...")
    beat.warning("Scheduler: could not send %s", "dashboard.dispatch_due")
    lines = stream.getvalue().splitlines()
    assert lines == ["beat: Starting...", "Scheduler: could not send dashboard.dispatch_due"]

    logging.getLogger().setLevel(logging.DEBUG)
    beat.info("Scheduler: Sending due task %s (%s)", "dispatch-due", "dashboard.dispatch_due")
    assert stream.getvalue().splitlines()[-1].endswith("(dashboard.dispatch_due)")


def test_the_setup_link_is_boxed() -> None:
    box = run.boxed(["Dashboard: http://localhost:5000", "", "http://localhost:5000/setup?t=1"])
    lines = box.splitlines()
    assert lines[0] == "┌" + "─" * 34 + "┐" and lines[-1] == "└" + "─" * 34 + "┘"
    assert lines[1] == "│ Dashboard: http://localhost:5000 │"
    assert lines[3] == "│ http://localhost:5000/setup?t=1  │"
    assert {len(line) for line in lines} == {36}
