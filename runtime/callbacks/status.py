"""``GET /runtime/status`` and the metrics Orthanc exposes in /tools/metrics-prometheus."""

from __future__ import annotations

from typing import Any

from runtime import __version__
from runtime.backends.executor import Executor
from runtime.callbacks.changes import Hub, from_the_log
from runtime.callbacks.cluster import Cluster
from runtime.enums import MetricsType
from runtime.http import Request
from runtime.registry import Registry
from runtime.sdk import transport


class Status:
    """What one start of the plugin shows of itself: its handlers, its pool, its event feeds."""

    def __init__(self, handlers: Registry, executor: Executor, hub: Hub,
                 cluster: Cluster | None = None) -> None:
        self.handlers = handlers
        self.executor = executor
        self.hub = hub
        self.cluster = cluster or hub.cluster

    def status(self) -> dict[str, Any]:
        self.hub.refresh_last()
        pool = self.executor.current()
        handlers = self.handlers
        return {
            "version": __version__,
            "orthanc_started": self.hub.started.is_set(),  # Orthanc said ORTHANC_STARTED
            "pool": pool.status() if pool is not None else None,
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
        }

    def route(self, request: Request) -> dict[str, Any]:
        """``GET /runtime/status``."""
        return self.status()

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
