"""Prometheus metrics at `/metrics`, computed from the database and the broker at scrape time.

Why not counters kept in each process: the workers that send run on many hosts and come and
go (`--scale worker=4`, autoscaling), and a worker's counters die with it and would need a
scrape target per worker. The rows and the broker already hold the truth for the whole
deployment, so any web process can answer for all of them. Each scrape costs a few bounded
queries: a GROUP BY on the indexed `message.status`, and aggregates over the attempts of the
last `METRICS_WINDOW_SECONDS` found through the index on `delivery_attempt.finished_at`. Attempt
figures are therefore gauges over that window (a gauge histogram for latency), not counters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from dashboard.auth import public
from dashboard.extensions import db
from dashboard.models import DeliveryAttempt, Message, MessageStatus, utcnow
from dashboard.sending.broker_depths import queue_depths
from dashboard.sending.queues import QUEUES

log = logging.getLogger(__name__)

metrics = Blueprint("metrics", __name__)

# Upper bounds, in seconds, of the send-latency buckets (one SMTP transaction per message).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DispatcherCollector(Collector):
    """Reads the deployment's state on each scrape; a part that does not answer is reported as
    down (`dispatcher_up`) rather than failing the whole scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "dispatcher_up", "Whether the part answered this scrape (1) or not (0)", labels=["part"]
        )
        with self.app.app_context():
            try:
                yield from self._from_database()
                up.add_metric(["database"], 1)
            except Exception as error:
                log.warning("metrics: the database did not answer: %s", type(error).__name__)
                db.session.rollback()
                up.add_metric(["database"], 0)
        try:
            yield self._queue_depth()
            up.add_metric(["broker"], 1)
        except Exception as error:
            log.warning("metrics: the broker did not answer: %s", type(error).__name__)
            up.add_metric(["broker"], 0)
        yield up

    def _from_database(self) -> Iterator[Metric]:
        by_state = dict(
            db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
        messages = GaugeMetricFamily(
            "dispatcher_messages", "Messages in each state, now", labels=["state"]
        )
        for state in MessageStatus:
            messages.add_metric([state.value], by_state.get(state.value, 0))

        seconds = int(self.app.config["METRICS_WINDOW_SECONDS"])
        since = utcnow() - timedelta(seconds=seconds)
        recent = DeliveryAttempt.finished_at >= since
        bucket_columns = [
            func.coalesce(func.sum(case((DeliveryAttempt.duration_ms <= bound * 1000, 1))), 0)
            for bound in LATENCY_BUCKETS
        ]
        total, total_ms, *in_buckets = db.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(DeliveryAttempt.duration_ms), 0),
                *bucket_columns,
            ).where(recent)
        ).one()
        latency = GaugeHistogramMetricFamily(
            "dispatcher_send_duration_seconds",
            f"SMTP time per attempt, over the attempts of the last {seconds} s",
            buckets=[
                *(
                    (str(bound), int(count))
                    for bound, count in zip(LATENCY_BUCKETS, in_buckets, strict=True)
                ),
                ("+Inf", int(total)),
            ],
            gsum_value=int(total_ms) / 1000,
        )

        replies = GaugeMetricFamily(
            "dispatcher_smtp_replies",
            f"Attempts of the last {seconds} s by SMTP reply code "
            "(code 'none': no reply, the connection failed) and outcome",
            labels=["code", "outcome"],
        )
        retries = 0
        for code, outcome, count in db.session.execute(
            select(DeliveryAttempt.smtp_code, DeliveryAttempt.outcome, func.count())
            .where(recent)
            .group_by(DeliveryAttempt.smtp_code, DeliveryAttempt.outcome)
        ).all():
            replies.add_metric(["none" if code is None else str(code), outcome], count)
            if outcome == "transient":
                retries += count
        db.session.rollback()  # read-only: end the transaction before the pool takes it back

        window = GaugeMetricFamily(
            "dispatcher_metrics_window_seconds",
            "The window the attempt figures cover",
            value=seconds,
        )
        retried = GaugeMetricFamily(
            "dispatcher_retries",
            f"Transient failures (4xx replies, connection errors) of the last {seconds} s;"
            " each sends its message back to be retried, or to failed once its retries are used",
            value=retries,
        )
        yield from (messages, latency, replies, retried, window)

    def _queue_depth(self) -> Metric:
        depths = queue_depths(self.app.config, QUEUES)
        depth = GaugeMetricFamily(
            "dispatcher_queue_depth",
            "Batches (tasks) waiting on each broker queue, not yet taken by a worker",
            labels=["queue"],
        )
        for queue, waiting in depths.items():
            depth.add_metric([queue], waiting)
        return depth


def init_metrics(app: Flask) -> None:
    """Give the app its own registry (tests build many apps; the global one is per process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DispatcherCollector(app))
    app.extensions["metrics_registry"] = registry


# Public: a scrape must still answer when the database (and so any token check) is down. It
# shows counts and reachability only, never an address, a body or a secret.
@metrics.get("/metrics")
@public
def scrape() -> Response:
    """The Prometheus text format (or OpenMetrics, when the scraper asks for it)."""
    registry: CollectorRegistry = current_app.extensions["metrics_registry"]
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(registry), content_type=content_type)
