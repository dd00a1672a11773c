"""Prometheus metrics of one server (``GET /metrics``), in a registry of its own.

==================================  =========================================================
``aptrank_requests_total``          requests by endpoint, model and status code
``aptrank_request_seconds``         request latency by endpoint (histogram)
``aptrank_requests_in_flight``      requests being answered now
``aptrank_batch_requests``          requests merged into one model call (histogram)
``aptrank_batch_items``             pairs, texts or queries in one model call (histogram)
``aptrank_model_call_seconds``      seconds of one model call (histogram)
``aptrank_queue_depth``             requests waiting for the model, by model and endpoint
==================================  =========================================================
"""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ITEM_BUCKETS = (1, 4, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    """The server's counters, histograms and gauges (``prometheus-client``)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        reg: dict[str, Any] = {"registry": self.registry}
        self.requests = Counter(
            "aptrank_requests", "Requests answered.", ["endpoint", "model", "status"], **reg
        )
        self.latency = Histogram(
            "aptrank_request_seconds",
            "Request latency in seconds.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            **reg,
        )
        self.in_flight = Gauge("aptrank_requests_in_flight", "Requests being answered.", **reg)
        labels = ["model", "endpoint"]
        self.batch_requests = Histogram(
            "aptrank_batch_requests",
            "Requests merged into one model call.",
            labels,
            buckets=BATCH_BUCKETS,
            **reg,
        )
        self.batch_items = Histogram(
            "aptrank_batch_items",
            "Pairs, texts or queries in one model call.",
            labels,
            buckets=ITEM_BUCKETS,
            **reg,
        )
        self.model_seconds = Histogram(
            "aptrank_model_call_seconds",
            "Seconds of one model call.",
            labels,
            buckets=LATENCY_BUCKETS,
            **reg,
        )
        self.queue_depth = Gauge(
            "aptrank_queue_depth", "Requests waiting for the model.", labels, **reg
        )

    def observe_batch(
        self, model: str, endpoint: str, jobs: int, items: int, seconds: float
    ) -> None:
        self.batch_requests.labels(model, endpoint).observe(jobs)
        self.batch_items.labels(model, endpoint).observe(items)
        self.model_seconds.labels(model, endpoint).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
