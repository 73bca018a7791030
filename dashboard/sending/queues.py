"""The broker's queues and the names of the tasks that are published to them.

Code that publishes a task names it by these constants (Celery's `send_task`), so it never
imports `dashboard.tasks`, which imports it: the worker's entry points stay above the layers.
"""

from __future__ import annotations

#: Single emails go on `transactional`; CSV campaigns and imports on `bulk`; the beat jobs
#: (dispatching what is due, sweeping, probing the account) on `housekeeping`, served by a worker
#: of its own so that no amount of sending can hold them up.
HOUSEKEEPING = "housekeeping"
QUEUES = ("transactional", "bulk", HOUSEKEEPING)

SEND_BATCH = "dashboard.send_batch"
IMPORT_CSV = "dashboard.import_csv"
DISPATCH_DUE = "dashboard.dispatch_due"
SWEEP_STALE = "dashboard.sweep_stale"
PROBE_ACCOUNT = "dashboard.probe_account"
DELIVER_WEBHOOKS = "dashboard.deliver_webhooks"
POLL_BOUNCES = "dashboard.poll_bounces"
REMOVE_DRAFTS = "dashboard.remove_abandoned_drafts"
PRUNE_WEBHOOKS = "dashboard.prune_webhook_events"
