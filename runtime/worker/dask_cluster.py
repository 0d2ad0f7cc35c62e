"""What a ``dask worker`` process does to serve an Orthanc: runtime.backends.dask_tasks'
OrthancWorkerPlugin calls :func:`setup` here when the master registers it.

setup() makes the worker's SDK calls go to that Orthanc's REST API with its
token (runtime.sdk.remote), installs the configuration, makes ``import
orthanc`` the compatibility module and imports the scripts, which travel in the
plugin as source text: a worker on another machine needs only the same
versions of orthanc-runtime and distributed installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
from functools import partial
from typing import Any

from runtime import compat
from runtime.backends.dask_tasks import (
    JOB_TOPIC,
    LOG_TOPIC,
    OrthancWorkerPlugin,
    current,
    deployments,
    stop_event_name,
)
from runtime.configuration import settings
from runtime.errors import NotInOrthanc
from runtime.jobs import runs
from runtime.registry import Registry, activate, active
from runtime.sdk import transport
from runtime.sdk.remote import RemoteOrthanc


def _resolve() -> RemoteOrthanc | None:
    name = current.get()
    if name is not None:
        return deployments.get(name)
    if len(deployments) == 1:  # a thread that the handler started has no context
        return next(iter(deployments.values()))
    return None


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


def _report_job(run_id: int, value: Any) -> bool:
    """A job's run reports a step (runtime.jobs.runs) on the event channel; go on unless the
    master set the run's stop Event (it does when it answers a report "stop")."""
    from distributed import Event, get_worker

    deployment = current.get()
    if deployment is None:
        raise NotInOrthanc("a job's run reports from the thread of its task only")
    get_worker().log_event(JOB_TOPIC, {"deployment": deployment, "run": run_id,
                                       "value": pickle.dumps(value)})
    return not Event(stop_event_name(deployment, run_id)).is_set()


def setup(plugin: OrthancWorkerPlugin, worker: Any) -> None:
    """Sets this Dask worker up for the Orthanc of ``plugin``: its REST API and token, its
    configuration, ``import orthanc``, the scripts."""
    sys.modules["orthanc"] = compat
    remote = RemoteOrthanc(plugin.url, plugin.token, configuration=plugin.configuration,
                           configuration_path=plugin.configuration_path, version=plugin.version,
                           log_sink=partial(_send_log, worker, plugin.deployment))
    deployments[plugin.deployment] = remote
    transport.set_remote(_resolve)
    runs.remote_report = _report_job
    settings.install(plugin.section)
    entered = current.set(plugin.deployment)
    try:
        # The decorators record into a registry of their own, which replaces this
        # worker's whole: nothing registers here, a script imported again (a reload, a
        # new scheduler) claims no route twice, and what a handler run here looks up in
        # the registry (the storage area's instance) is the script's, as in a pool worker.
        previous = active()
        activate(Registry())
        try:
            for module_name, source, filename in plugin.scripts:
                _import_source(module_name, source, filename)
            for module_name in plugin.recipes:
                importlib.import_module(module_name)
        except BaseException:
            activate(previous)
            raise
    finally:
        current.reset(entered)


def teardown(plugin: OrthancWorkerPlugin, worker: Any) -> None:
    deployments.pop(plugin.deployment, None)
