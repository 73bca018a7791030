"""The send path, from a submitted email to its outcome: the rules a submitted email must meet
(`requests`, `field_errors`), submitting (`submission`) at most once per `Idempotency-Key`
(`idempotency`), sending later (`schedule`), publishing
ids to the broker after the commit (`publishing`, `queues`), claiming a batch (`claims`) and
holding it by a renewed lease (`leases`), what
a batch sends (`envelopes`, `batch_content`, `unsubscribe_links`), an SMTP account and its
shared rate limit (`account`), holding an account while it cannot be used (`account_hold`),
the sending accounts and pools admins add, and sending through them (`accounts/`),
holds (`holds`), bulk batches cut by time (`slices`), retries (`retries`), the failure guard, the
suppression list, recording outcomes (`outcomes`) and the hourly sent counts written beside the
rows (`sent_counts`, cut by `time_buckets`), and the beat jobs (`dispatcher`, `sweeper`, which
finds tasks the broker lost in `lost_tasks` by the queues' depths, `broker_depths`).

May import: `dashboard.mail`, `dashboard.models` and the low wiring (`extensions`, `database`,
`config`). Never a page, the API, campaigns or reporting, nor `dashboard.tasks`: tasks are
published by name (`queues.py`).
"""
