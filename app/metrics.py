"""Prometheus metrics at ``/metrics``: request counts and latencies, plus outbox and queue gauges.

The endpoint answers only to loopback and private-network addresses (nginx also denies it publicly), so a
Prometheus on the same host or network can scrape it and the internet cannot. Under gunicorn with several
workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty writable directory so the figures of every worker are
aggregated (``deploy/gunicorn.conf.py`` cleans up after a worker exits).
"""

from __future__ import annotations

import ipaddress
import os
import time

from flask import Flask, Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("cargwin_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "cargwin_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _private_client() -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def init_metrics(app: Flask) -> None:
    if not app.config.get("METRICS_ENABLED", True):
        return

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = getattr(g, "metrics_started", None)
        # The endpoint name, never the raw path: ids in paths would explode the label set.
        endpoint = request.endpoint or "unmatched"
        if started is not None:
            LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        if not _private_client():
            abort(404)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            payload = generate_latest(registry)
        else:
            payload = generate_latest()
        return Response(payload, mimetype=CONTENT_TYPE_LATEST)
