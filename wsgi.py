"""WSGI entry point: `gunicorn wsgi:app`."""

import gc

from dashboard import create_app

app = create_app()
# The app, its modules and templates live as long as the process: out of the collector's sight,
# a full collection walks only what requests made (as each worker pool process does).
gc.freeze()
