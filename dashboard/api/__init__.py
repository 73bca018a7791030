"""The JSON API under /api/v1 and its OpenAPI document: emails, campaigns, tasks, statistics,
webhooks.
Errors are JSON from `errors.api_error`; request rules come from the areas below (a submitted
email's from `sending.requests`, a campaign's from `campaigns.schemas`), answers are pydantic
models here (`schemas`, `stats_schemas`) that also generate the OpenAPI document.

May import: `dashboard.campaigns`, `dashboard.reporting`, `dashboard.sending`, `dashboard.auth`,
`dashboard.ops`, `dashboard.mail`, `dashboard.models` and the low wiring. Never a page.
"""

from dashboard.api import (  # noqa: F401  (routes register on import)
    accounts,
    audit,
    campaigns,
    emails,
    openapi,
    stats,
    tasks,
    webhooks,
)
from dashboard.api.blueprint import api

__all__ = ["api"]
