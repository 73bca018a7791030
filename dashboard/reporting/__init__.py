"""What happened, read back from the rows: the history (filters from the URL, keyset pages, the
CSV export, one message as it was sent) and the statistics (time ranges and their buckets, the
SQL that differs between engines, the per-campaign table, charts, the hourly sent counts that
`dashboard.sending` keeps beside the rows), and the one rule for cells of every CSV the app
writes (`csv_cells`).

May import: `dashboard.sending` (to rebuild a message as the workers do), `dashboard.mail`,
`dashboard.models` and the low wiring. Never a page, the API or campaigns.
"""
