"""Delivery webhooks: what other systems hear about a message's outcome.

`outbox` writes an event for every endpoint that asked for it, in the transaction of the outcome
(`enqueue_event` / `enqueue_events`: the send path, the unsubscribe and the bounce reader call
them); `delivery` is the beat job that signs (Standard Webhooks) and sends what is due, retries
with backoff and disables an endpoint after a day of failures; `endpoints` registers, changes,
lists and replays (the pages, the API and the CLI call it); `targets` says which URLs may be one.

May import: `dashboard.models`, `dashboard.mail` and the low wiring (`extensions`, `database`,
`config`). Never sending, campaigns, reporting, auth, a page or the API: they import it.
"""
