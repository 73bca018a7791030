"""Sending accounts and pools: the SMTP accounts admins add besides the default one (MAIL_*),
their secrets sealed at rest (`secrets`), adding and changing them (`registry`, whose rules
`schemas` states for the form, the API and its OpenAPI document), which accounts a campaign's
mail goes through (`routes`), sending a batch through them with failover (`delivery`) and each
account's health and budget for the live panel (`health`).

May import what `dashboard.sending` may: `dashboard.mail`, `dashboard.models`, the low wiring
and the modules of `dashboard.sending` itself.
"""
