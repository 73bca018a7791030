"""Celery entry point: `celery -A celery_worker worker` (and `celery -A celery_worker beat`)."""

from dashboard import create_app
from dashboard.ops.quiet_ticks import quiet_periodic_ticks

flask_app = create_app()
celery = flask_app.extensions["celery"]
quiet_periodic_ticks(celery)  # the periodic jobs' per-run lines only at DEBUG
