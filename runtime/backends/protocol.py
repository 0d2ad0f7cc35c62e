"""The one interface between the runtime and whatever runs offloaded handlers.

    runtime.callbacks.rest / gates / delivery / job_runs
        --executor.run_route / run_call / submit_event / submit_job_run-->  OffloadBackend
                                                  |                           |
                                   LocalBackend (runtime.backends.executor)   DaskBackend (runtime.backends.dask_cluster)
                                   pool.Pool: processes here         a Dask cluster; SDK calls over
                                                                     Orthanc's REST API

``Pool.Backend`` in the configuration chooses one at start. Both raise the
pool's errors, so that an answer means the same whatever ran the handler:
``TaskTimeout`` answers 504, ``WorkerCrashed`` 502, ``PoolFull`` 503 with
Retry-After, ``PoolClosed`` 503 while Orthanc stops (runtime.answers).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from runtime.http import Request, Response


class OffloadBackend(Protocol):
    """What runs the script's offloaded handlers; started by runtime.backends.executor.Executor.start."""

    name: str
    """``"local"`` or ``"dask"``, as in ``Pool.Backend``."""

    @property
    def workers(self) -> int:
        """How many handlers may run at once (the event feeds size their window on it)."""

    def run_route(self, handler: Callable[..., Any], request: Request,
                  timeout: float | None) -> Response:
        """Runs a route's handler and waits for its answer."""

    def run_call(self, handler: Callable[..., Any], argument: Any, timeout: float | None) -> Any:
        """Runs ``handler(argument)`` and waits for what it returns (a gate's answer)."""

    def submit_event(self, handler: Callable[..., Any], event: Any,
                     timeout: float | None) -> Future[Any]:
        """Starts an event handler; the future ends when it does."""

    def submit_job_run(self, handler: Callable[..., Any], args: tuple[Any, ...],
                       timeout: float) -> Future[Any]:
        """Starts one run of an offloaded job (runtime.jobs)."""

    def add_master_functions(self, functions: dict[str, Callable[..., Any]]) -> None:
        """More functions that a running handler may call in the master."""

    def restart(self, section: dict[str, Any], modules: list[str]) -> OffloadBackend:
        """The backend that runs the reloaded scripts (runtime.plugin.reload)."""

    def status(self) -> dict[str, Any]:
        """What ``/runtime/status`` shows under ``"pool"``."""

    def metrics(self) -> dict[str, float]:
        """Prometheus values, by name (``orthanc_runtime_...``)."""

    def orthanc_stopping(self, grace: float) -> None:
        """Orthanc stops: what still runs after ``grace`` seconds ends with PoolClosed."""

    def shutdown(self, grace: float | None) -> None:
        """Stops within ``grace`` seconds; waiting callers get PoolClosed."""


# What a job's run reports besides its steps (runtime.jobs.runs; a JobStep crosses as a
# 5-tuple): here, because a backend that relays reports (the Dask cluster's) must know
# the last one.
RUN_STARTED = ("started",)
RUN_FINISHED = ("finished",)
