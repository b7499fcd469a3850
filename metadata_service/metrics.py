"""Prometheus metrics of one service process (or all workers, in multiprocess mode).

Request latency is observed by `RequestMiddleware` (route template, method, status), selections
and solver time by the selection service, heartbeats by the heartbeat service; the stale-node
gauge is computed from the database at scrape time so it is right on every worker. With several
uvicorn workers `rtfit serve` sets `PROMETHEUS_MULTIPROC_DIR` and the exposition merges them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StaleNodes(Collector):
    def __init__(self, count: Callable[[], int | None]) -> None:
        self._count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = self._count()
        if value is not None:
            yield GaugeMetricFamily("rtfit_stale_nodes", "Nodes whose last heartbeat is older than the TTL", value)


class Metrics:
    """The metric objects of one app; a private registry so several apps can coexist in tests."""

    def __init__(self, *, stale_nodes: Callable[[], int | None]) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "rtfit_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.selections = Counter(
            "rtfit_selections", "Selections answered", ["kind", "outcome", "cache"], registry=self.registry
        )
        self.solver_seconds = Histogram(
            "rtfit_solver_seconds", "Time spent in the solver per selection", ["kind"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.heartbeats = Counter(
            "rtfit_heartbeats", "Heartbeats received", ["kind", "outcome"], registry=self.registry
        )
        self._stale = _StaleNodes(stale_nodes)
        if not self.multiprocess:
            self.registry.register(self._stale)

    def exposition(self) -> bytes:
        """The Prometheus text format of this process, or of all workers in multiprocess mode."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        merged.register(self._stale)
        return generate_latest(merged)
