"""Campaigns, from an upload to a sent list: reading the CSV files people export (`csv_reading`)
and Excel workbooks (`xlsx_reading`, its shared strings read lazily by `xlsx_shared_strings`),
storing an upload and starting its import (`upload`), the import task's work (`importer`), what
the import found (`import_report`), confirming (`confirm`), pausing, resuming, cancelling and
retrying (`control`, `message_control`), what a campaign's page shows (`overview`, and when a
limited campaign finishes: `finish`), the rules of a submission (`schemas`), saved templates
(`templates`) and reading an uploaded suppression list (`suppression_csv`).

May import: `dashboard.reporting`, `dashboard.sending`, `dashboard.mail`, `dashboard.models` and
the low wiring. Never a page or the API.
"""
