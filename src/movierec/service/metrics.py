"""Prometheus metrics of the service, through ``prometheus_client`` (one registry per app).

* ``movierec_http_requests_total{method,route,status}``, ``movierec_http_request_errors_total``
  (status ≥ 400) and the ``movierec_http_request_duration_seconds`` histogram by route:
  ``route`` is the route template (``/users/{user_id}/recommendations``), or ``unmatched``
  for paths no route serves, so label cardinality stays bounded;
* ``movierec_model_reloads_total{result}`` (loaded, refused);
* at scrape time: ``movierec_model_info{version,model,rank}``, ``movierec_model_users``,
  ``movierec_model_movies``, ``movierec_uptime_seconds``, the first-pass batching counters
  and, in a worker of ``movierec serve --workers N``, ``movierec_worker_info`` (every value
  is then that worker process's own: sum the workers' series for the service).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from movierec.service.batching import FirstPassBatcher
from movierec.service.scorer import Scorer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format."""
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LiveCollector(Collector):
    """The gauges read at scrape time (module docstring)."""

    def __init__(self, source: Callable[[], dict[str, Any]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        now = self.source()
        worker = now.get("worker")
        if worker is not None:
            info = GaugeMetricFamily(
                "movierec_worker_info",
                "The worker process that produced these metrics (value 1); every metric here "
                f"counts this worker only, one of {worker['workers']} (movierec serve --workers).",
                labels=["index", "workers", "pid"],
            )
            info.add_metric([str(worker[k]) for k in ("index", "workers", "pid")], 1)
            yield info
        scorer: Scorer = now["scorer"]
        model = GaugeMetricFamily(
            "movierec_model_info",
            "The model being served (value 1).",
            labels=["version", "model", "rank"],
        )
        model.add_metric([scorer.version, scorer.kind, str(scorer.rank)], 1)
        yield model
        yield GaugeMetricFamily(
            "movierec_model_users", "Users in the model being served.", value=scorer.n_users
        )
        yield GaugeMetricFamily(
            "movierec_model_movies", "Movies in the model being served.", value=scorer.n_items
        )
        yield GaugeMetricFamily(
            "movierec_uptime_seconds",
            "Seconds since the service started.",
            value=round(time.monotonic() - now["started"], 3),
        )
        batcher: FirstPassBatcher | None = now.get("batcher")
        if batcher is not None:
            yield CounterMetricFamily(
                "movierec_first_pass_batches",
                "Batched first scoring passes (large catalogues).",
                value=batcher.batches,
            )
            yield CounterMetricFamily(
                "movierec_first_pass_vectors",
                "Requests scored in those batches.",
                value=batcher.vectors,
            )


class ServiceMetrics:
    """The app's registry; :meth:`observe` is called once per HTTP request.

    ``active``: HTTP requests received and not yet answered (event-loop thread only; the
    first-pass batcher reads it).
    """

    def __init__(self, live: Callable[[], dict[str, Any]]) -> None:
        # No *_created series (a process-wide prometheus_client setting; the page stays
        # what it was before the library was used).
        prometheus_client.disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.active = 0
        labels = ["method", "route", "status"]
        self._requests = Counter(
            "movierec_http_requests",
            "HTTP requests by method, route and status.",
            labels,
            registry=self.registry,
        )
        self._errors = Counter(
            "movierec_http_request_errors",
            "HTTP responses with status >= 400.",
            labels,
            registry=self.registry,
        )
        self._latency = Histogram(
            "movierec_http_request_duration_seconds",
            "Request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._reloads = Counter(
            "movierec_model_reloads",
            "Model reloads by result (loaded, refused).",
            ["result"],
            registry=self.registry,
        )
        for result in ("loaded", "refused"):
            self._reloads.labels(result)
        self.registry.register(_LiveCollector(live))
        # Label children by key: prometheus_client's labels() costs more than the update.
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            errors = self._errors.labels(method, route, str(status)) if status >= 400 else None
            children = (
                self._requests.labels(method, route, str(status)),
                errors,
                self._latency.labels(method, route),
            )
            self._children[key] = children
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def count_reload(self, result: str) -> None:
        self._reloads.labels(result).inc()

    def render(self) -> bytes:
        """The Prometheus text of every metric."""
        return prometheus_client.generate_latest(self.registry)
