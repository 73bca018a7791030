"""A pool process puts what it started with out of the garbage collector's sight, so a full
collection walks only what its tasks made (the app and its modules live as long as it does)."""

from __future__ import annotations

import gc

from celery.signals import worker_process_init

from dashboard.signals import connect_signal_handlers


def test_a_new_pool_process_freezes_the_objects_it_started_with() -> None:
    connect_signal_handlers()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        worker_process_init.send(sender=None)
        # The dashboard's modules, mappers and templates are among them: thousands of objects.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
