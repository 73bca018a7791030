"""The dashboard's pages and their forms: one blueprint per area (compose, campaigns, history,
scheduled, statistics, suppressions, saved templates, caught mail, unsubscribe).

A view parses the request, calls a service or a query of its area and renders; it holds no SQL.
May import: campaigns, reporting, sending, ops, auth, mail, models and the wiring below them
(extensions, errors). Nothing below imports a page.
"""
