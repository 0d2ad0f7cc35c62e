"""What runs in a Dask worker for the dask backend: its tasks and the plugin that prepares it.

    master (runtime.backends.dask_cluster)                       dask worker process
      client.register_plugin(OrthancWorkerPlugin) ---> setup(): runtime.worker.dask_cluster
      client.submit(run, deployment, run_route, ...) -> run(): the handler, its SDK calls
                                                          over REST (runtime.sdk.remote)
      client.subscribe_topic(LOG_TOPIC) <------------- worker.log_event(LOG_TOPIC, ...)

Each Orthanc that uses the cluster is a *deployment*, with a random name: a
worker may serve several, each task says which (``current`` while it runs),
and ``deployments`` holds what its setup made for each. The plugin names the
module that sets a worker up (SETUP_MODULE) rather than importing it: that
module belongs to the worker process, above the backends, as runtime.worker
does for the local pool.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from runtime.backends.tasks import HandlerRef
from runtime.errors import NotInOrthanc

LOG_TOPIC = "orthanc-runtime-log"
JOB_TOPIC = "orthanc-runtime-job"
SETUP_MODULE = "runtime.worker.dask_cluster"

deployments: dict[str, Any] = {}
"""Deployment name -> its runtime.sdk.remote.RemoteOrthanc, made by the worker's setup."""

current: ContextVar[str | None] = ContextVar("orthanc_runtime_deployment", default=None)


class OrthancWorkerPlugin(WorkerPlugin):
    """Sets a worker up for one Orthanc: its REST API and token, its configuration, its scripts.

    ``scripts`` are (module name, source, file name) of the user's scripts;
    ``recipes`` the names of the recipe modules, installed on the workers.
    """

    idempotent = False  # registered again, it replaces the previous setup (a reload)

    def __init__(self, deployment: str, url: str, token: str, section: dict[str, Any],
                 configuration: str, configuration_path: str, version: str,
                 scripts: list[tuple[str, str, str]], recipes: list[str]) -> None:
        self.name = f"orthanc-runtime-{deployment}"
        self.deployment = deployment
        self.url = url
        self.token = token
        self.section = section
        self.configuration = configuration
        self.configuration_path = configuration_path
        self.version = version
        self.scripts = scripts
        self.recipes = recipes

    def __repr__(self) -> str:
        return f"OrthancWorkerPlugin({self.deployment!r}, {self.url!r})"  # never the token

    def setup(self, worker: Any) -> None:
        importlib.import_module(SETUP_MODULE).setup(self, worker)

    def teardown(self, worker: Any) -> None:
        importlib.import_module(SETUP_MODULE).teardown(self, worker)


def stop_event_name(deployment: str, run_id: int) -> str:
    """The Dask Event by which the master asks a job's run to stop at its next yield."""
    return f"orthanc-runtime-stop-{deployment}-{run_id}"


def run_job(function: Callable[..., Any], handler: Any, *args: Any) -> Any:
    """A job's run (runtime.jobs.runs.run_in_worker) with its handler found by name here.

    The scheduler unpickles what is submitted: a function of the user's script,
    which only the workers import, must cross by name (runtime.backends.tasks.HandlerRef).
    """
    if isinstance(handler, HandlerRef):
        handler = handler.resolve()
    return function(handler, *args)


def run(deployment: str, function: Callable[..., Any], *args: Any) -> Any:
    """What the master submits: ``function(*args)`` with the SDK of the Orthanc ``deployment``."""
    if deployment not in deployments:
        raise NotInOrthanc(
            "this Dask worker has no orthanc-runtime setup for the Orthanc that sent the task "
            "(its worker plugin was not registered here, or its setup failed: see the worker's log)")
    entered = current.set(deployment)
    try:
        return function(*args)
    finally:
        current.reset(entered)
