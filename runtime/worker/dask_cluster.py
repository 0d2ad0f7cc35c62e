"""The worker side of the dask backend: what a ``dask worker`` process needs to run handlers.

    master (runtime.backends.dask_cluster)                       dask worker process
      client.register_plugin(OrthancWorkerPlugin) ---> setup(): RemoteOrthanc(url, token),
                                                          settings, `import orthanc`, the scripts
      client.submit(run, deployment, run_route, ...) -> run(): the handler, its SDK calls
                                                          over REST (runtime.sdk.remote)
      client.subscribe_topic(LOG_TOPIC) <------------- worker.log_event(LOG_TOPIC, ...)

Each Orthanc that uses the cluster is a *deployment*, with a random name: a
worker may serve several, each task says which, and its SDK calls go to that
Orthanc with that Orthanc's token. The scripts travel in the plugin as
source text, so a worker on another machine needs only the same versions of
orthanc-runtime and distributed installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from runtime import compat
from runtime.backends.tasks import HandlerRef
from runtime.configuration import settings
from runtime.errors import NotInOrthanc
from runtime.jobs import runs
from runtime.registry import Registry, registry
from runtime.sdk import transport
from runtime.sdk.remote import RemoteOrthanc

LOG_TOPIC = "orthanc-runtime-log"
JOB_TOPIC = "orthanc-runtime-job"

_deployments: dict[str, RemoteOrthanc] = {}
_current: ContextVar[str | None] = ContextVar("orthanc_runtime_deployment", default=None)


def _resolve() -> RemoteOrthanc | None:
    name = _current.get()
    if name is not None:
        return _deployments.get(name)
    if len(_deployments) == 1:  # a thread that the handler started has no context
        return next(iter(_deployments.values()))
    return None


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
        sys.modules["orthanc"] = compat
        remote = RemoteOrthanc(self.url, self.token, configuration=self.configuration,
                               configuration_path=self.configuration_path, version=self.version,
                               log_sink=partial(_send_log, worker, self.deployment))
        _deployments[self.deployment] = remote
        transport.set_remote(_resolve)
        runs.remote_report = _report_job
        settings.install(self.section)
        entered = _current.set(self.deployment)
        try:
            # The decorators record into a registry of their own, which then replaces this
            # worker's whole: nothing registers here, a script imported again (a reload, a
            # new scheduler) claims no route twice, and what a handler run here looks up in
            # the registry (the storage area's instance) is the script's, as in a pool worker.
            recorded = Registry()
            with registry.recording_into(recorded):
                for module_name, source, filename in self.scripts:
                    _import_source(module_name, source, filename)
                for module_name in self.recipes:
                    importlib.import_module(module_name)
            registry.take(recorded)
        finally:
            _current.reset(entered)

    def teardown(self, worker: Any) -> None:
        _deployments.pop(self.deployment, None)


def _import_source(module_name: str, source: str, filename: str) -> None:
    """Runs a script's source as the module ``module_name``, as the master imported it."""
    folder = os.path.dirname(filename)
    if folder and os.path.isdir(folder) and folder not in sys.path:
        sys.path.append(folder)  # the modules beside it, where the worker shares the files
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=filename)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = filename
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        if previous is not None:
            sys.modules[module_name] = previous
        else:
            sys.modules.pop(module_name, None)
        raise


def _send_log(worker: Any, deployment: str, level: str, message: str) -> None:
    worker.log_event(LOG_TOPIC, {"deployment": deployment, "level": level,
                                 "message": message, "worker": worker.address})


def stop_event_name(deployment: str, run_id: int) -> str:
    """The Dask Event by which the master asks a job's run to stop at its next yield."""
    return f"orthanc-runtime-stop-{deployment}-{run_id}"


def _report_job(run_id: int, value: Any) -> bool:
    """A job's run reports a step (runtime.jobs.runs) on the event channel; go on unless the
    master set the run's stop Event (it does when it answers a report "stop")."""
    from distributed import Event, get_worker

    deployment = _current.get()
    if deployment is None:
        raise NotInOrthanc("a job's run reports from the thread of its task only")
    get_worker().log_event(JOB_TOPIC, {"deployment": deployment, "run": run_id,
                                       "value": pickle.dumps(value)})
    return not Event(stop_event_name(deployment, run_id)).is_set()


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
    if deployment not in _deployments:
        raise NotInOrthanc(
            "this Dask worker has no orthanc-runtime setup for the Orthanc that sent the task "
            "(its worker plugin was not registered here, or its setup failed: see the worker's log)")
    entered = _current.set(deployment)
    try:
        return function(*args)
    finally:
        _current.reset(entered)
