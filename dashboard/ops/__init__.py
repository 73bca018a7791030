"""Running the system: `/healthz` and `/readyz`, Prometheus `/metrics`, the short probes behind
them, the live system panel's data, the embedded SMTP catcher and what it caught, and how the
processes are started on one machine (`local_stack`, used by `run.py`, the tests and the benches).

May import: `dashboard.auth` (to mark the probes public), `dashboard.reporting`,
`dashboard.sending`, `dashboard.mail`, `dashboard.models` and the low wiring. Never a page or
the API, nor the Celery app module: the Celery app comes from `app.extensions`.
"""
