"""``GET /runtime/status`` and the metrics Orthanc exposes in /tools/metrics-prometheus."""

from __future__ import annotations

from typing import Any

from runtime import __version__
from runtime.backends import executor
from runtime.callbacks import changes
from runtime.enums import MetricsType
from runtime.http import Request
from runtime.registry import registry
from runtime.sdk import transport


def status() -> dict[str, Any]:
    changes.hub.refresh_last()
    pool = executor.current()
    return {
        "version": __version__,
        "orthanc_started": changes.hub.started.is_set(),  # Orthanc said ORTHANC_STARTED
        "pool": pool.status() if pool is not None else None,
        "routes": [
            {"pattern": r.pattern.source, "methods": r.allowed,
             "handlers": sorted({h.name for h in r.by_method.values()}
                                | ({r.any_method.name} if r.any_method else set())),
             "offloaded": any(h.offload is not None for h in r.by_method.values())}
            for r in registry.routes
        ],
        "on_change": [x.name for x in registry.change_listeners],
        "on_stored_instance": [x.name for x in registry.stored_listeners],
        "http_filters": [x.name for x in registry.http_filters],
        "received_instance": registry.received_instance.name if registry.received_instance else None,
        "storage_area": registry.storage_area.name if registry.storage_area else None,
        "dicom_services": {kind: {"handler": entry.name, "offloaded": entry.offload is not None}
                           for kind, entry in registry.dicom_services.items()},
        "cstore_filters": [x.name for x in registry.cstore_filters],
        "events": changes.hub.status(),
    }


def status_route(request: Request) -> dict[str, Any]:
    return status()


def refresh_metrics() -> None:
    feeds = changes.hub.status()
    if feeds:
        behind = [f["behind"] for f in feeds if f["behind"] is not None]
        ages = [f["oldest_pending_age_s"] for f in feeds if f["oldest_pending_age_s"] is not None]
        transport.call("SetMetricsValue", "orthanc_runtime_events_backlog",
                       float(max(behind, default=0)), int(MetricsType.DEFAULT))
        transport.call("SetMetricsValue", "orthanc_runtime_events_backlog_age_seconds",
                       float(max(ages, default=0)), int(MetricsType.DEFAULT))
    backend = executor.current()
    if backend is None:
        return
    for name, value in backend.metrics().items():
        transport.call("SetMetricsValue", name, value, int(MetricsType.DEFAULT))
    latency = backend.status().get("latency_ms", {})
    if latency.get("p50") is not None:
        transport.call("SetMetricsValue", "orthanc_runtime_task_latency_p50_ms",
                       float(latency["p50"]), int(MetricsType.TIMER))
