"""``GET /runtime/status``, ``GET /runtime/metrics``, and the metrics Orthanc exposes in
/tools/metrics-prometheus.

Nothing here runs unless asked: the status is computed for each request of the
status route (the operator page polls it only while it is open), the
Prometheus text for each scrape, and Orthanc's own metrics when Orthanc
refreshes them (``refresh_metrics``, on its /tools/metrics-prometheus).
"""

from __future__ import annotations

from typing import Any

import prometheus_client  # here, not at the first scrape: see metrics_text
import prometheus_client.core as prometheus_core
import psutil

from runtime import __version__
from runtime.backends.executor import Executor
from runtime.callbacks.changes import Hub, from_the_log
from runtime.callbacks.cluster import Cluster
from runtime.enums import MetricsType
from runtime.handler_stats import BOUNDS, HandlerStats, RecentErrors
from runtime.http import Request, Response
from runtime.registry import Registry
from runtime.sdk import transport

METRICS_ROUTE = "/runtime/metrics"
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Status:
    """What one start of the plugin shows of itself: its handlers, its pool, its event feeds,
    each handler's counters and the recent errors."""

    def __init__(self, handlers: Registry, executor: Executor, hub: Hub,
                 cluster: Cluster | None = None, *, stats: HandlerStats | None = None,
                 errors: RecentErrors | None = None) -> None:
        self.handlers = handlers
        self.executor = executor
        self.hub = hub
        self.cluster = cluster or hub.cluster
        self.stats = stats or HandlerStats()
        self.errors = errors or RecentErrors()
        self._processes: dict[int, psutil.Process] = {}  # by pid, reused from one status to the next
        self.computed = 0  # statuses computed: only on request (the page polls while open)

    def status(self) -> dict[str, Any]:
        self.computed += 1
        self.hub.refresh_last()
        backend = self.executor.current()
        pool = backend.status() if backend is not None else None
        if pool is not None:
            self._add_memory(pool)
        handlers = self.handlers
        return {
            "version": __version__,
            "orthanc_started": self.hub.started.is_set(),  # Orthanc said ORTHANC_STARTED
            "pool": pool,
            "backend": backend.name if backend is not None else None,
            "routes": [
                {"pattern": r.pattern.source, "methods": r.allowed,
                 "handlers": sorted({h.name for h in r.by_method.values()}
                                    | ({r.any_method.name} if r.any_method else set())),
                 "offloaded": any(h.offload is not None for h in r.by_method.values())}
                for r in handlers.routes
            ],
            "on_change": [x.name for x in handlers.change_listeners],
            "on_stored_instance": [x.name for x in handlers.stored_listeners],
            "http_filters": [x.name for x in handlers.http_filters],
            "received_instance": handlers.received_instance.name
            if handlers.received_instance else None,
            "storage_area": handlers.storage_area.name if handlers.storage_area else None,
            "dicom_services": {kind: {"handler": entry.name, "offloaded": entry.offload is not None}
                               for kind, entry in handlers.dicom_services.items()},
            "cstore_filters": [x.name for x in handlers.cstore_filters],
            "events": self.hub.status(),
            "cluster": self.cluster.status(from_the_log(handlers)),
            "last_change": self.hub.seen_last if self.hub.feeds else None,
            "job_types": sorted(handlers.job_types),
            # each handler's requests, errors, latency (runtime.handler_stats)
            "handlers": self.stats.snapshot(),
            "recent_errors": {"total": self.errors.total, "list": self.errors.list()},
            "status_computed": self.computed,
        }

    def _add_memory(self, pool: dict[str, Any]) -> None:
        """Each worker's resident memory (MB), read now: only when someone asks."""
        seen: dict[int, psutil.Process] = {}
        for worker in pool.get("workers", {}).get("list", []):
            pid = worker.get("pid")
            worker["memory_mb"] = None
            if pid is None:
                continue
            try:
                process = self._processes.get(pid) or psutil.Process(pid)
                worker["memory_mb"] = round(process.memory_info().rss / 1048576, 1)
                seen[pid] = process
            except psutil.Error:
                pass
        self._processes = seen

    def route(self, request: Request) -> dict[str, Any]:
        """``GET /runtime/status``."""
        return self.status()

    # -- Prometheus --

    def metrics_text(self) -> bytes:
        """The Prometheus text exposition of the handlers' counters and latency histograms, the
        event backlog per handler and the pool's state, from a registry of this session's own
        (prometheus_client is imported with this module, at start: importing on one of
        Orthanc's HTTP threads can fail on Python 3.14, whose small C stacks it overflows)."""
        registry = prometheus_client.CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return prometheus_client.generate_latest(registry)  # type: ignore[no-any-return]

    def metrics_route(self, request: Request) -> Response:
        """``GET /runtime/metrics``."""
        return Response(self.metrics_text(), 200, PROMETHEUS_TYPE)

    def refresh_metrics(self) -> None:
        feeds = self.hub.status()
        if feeds:
            behind = [f["behind"] for f in feeds if f["behind"] is not None]
            ages = [f["oldest_pending_age_s"] for f in feeds
                    if f["oldest_pending_age_s"] is not None]
            transport.call("SetMetricsValue", "orthanc_runtime_events_backlog",
                           float(max(behind, default=0)), int(MetricsType.DEFAULT))
            transport.call("SetMetricsValue", "orthanc_runtime_events_backlog_age_seconds",
                           float(max(ages, default=0)), int(MetricsType.DEFAULT))
        backend = self.executor.current()
        if backend is None:
            return
        for name, value in backend.metrics().items():
            transport.call("SetMetricsValue", name, value, int(MetricsType.DEFAULT))
        latency = backend.status().get("latency_ms", {})
        if latency.get("p50") is not None:
            transport.call("SetMetricsValue", "orthanc_runtime_task_latency_p50_ms",
                           float(latency["p50"]), int(MetricsType.TIMER))


_LE = [f"{bound:g}" for bound in BOUNDS] + ["+Inf"]


class _Collector:
    """One scrape's metric families, read from the session's counters (prometheus_client's
    custom collector protocol: ``collect()`` yields families)."""

    def __init__(self, status: Status) -> None:
        self.status = status

    def collect(self) -> Any:
        core = prometheus_core
        handlers = self.status.stats.snapshot()
        requests = core.CounterMetricFamily(
            "orthanc_runtime_handler_requests", "Calls of each handler (a route's requests, an "
            "event handler's events, a DICOM service's or a filter's calls).", labels=["handler"])
        errors = core.CounterMetricFamily(
            "orthanc_runtime_handler_errors", "Calls of each handler that raised or answered "
            "HTTP 500 or more.", labels=["handler"])
        latency = core.HistogramMetricFamily(
            "orthanc_runtime_handler_latency_seconds", "Time of each handler's calls, from "
            "the call to its answer (an offloaded call's wait for a worker included).",
            labels=["handler", "kind"])
        for name, counted in sorted(handlers.items()):
            requests.add_metric([name], counted["requests"])
            errors.add_metric([name], counted["errors"])
            cumulative, total = [], 0
            for le, count in zip(_LE, counted["buckets"], strict=True):
                total += count
                cumulative.append((le, total))
            latency.add_metric([name, counted["kind"]], cumulative, counted["seconds_total"])
        yield requests
        yield errors
        yield latency
        backlog = core.GaugeMetricFamily(
            "orthanc_runtime_events_behind", "Changes of Orthanc's log that each event handler "
            "has not taken yet (its checkpoint's lag).", labels=["handler"])
        in_flight = core.GaugeMetricFamily(
            "orthanc_runtime_events_in_flight", "Events given to each handler, not yet done.",
            labels=["handler"])
        hub = self.status.hub
        hub.refresh_last()
        for feed in hub.status():
            if feed["behind"] is not None:
                backlog.add_metric([feed["handler"]], feed["behind"])
            in_flight.add_metric([feed["handler"]], feed["in_flight"])
        yield backlog
        yield in_flight
        recent = self.status.errors
        yield core.CounterMetricFamily("orthanc_runtime_handler_errors_logged",
                                       "Handler errors logged with an error id.",
                                       value=recent.total)
        backend = self.status.executor.current()
        if backend is None:
            return
        pool = backend.status()
        workers = core.GaugeMetricFamily("orthanc_runtime_workers", "Worker processes by state.",
                                         labels=["state"])
        for state in ("idle", "busy", "starting"):
            if state in pool.get("workers", {}):
                workers.add_metric([state], pool["workers"][state])
        yield workers
        restarts = pool.get("restarts")
        if restarts is not None:
            yield core.CounterMetricFamily("orthanc_runtime_worker_restarts",
                                           "Workers replaced (crashed, timed out, recycled).",
                                           value=restarts["total"])
        if "queue" in pool:
            yield core.GaugeMetricFamily("orthanc_runtime_queue", "Calls waiting for a worker.",
                                         value=pool["queue"])
