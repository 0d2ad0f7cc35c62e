"""What a worker process imports first, before the script: the runtime as a worker sees it.

The pool's fork server preloads this module (runtime.backends.executor names
it), then the script, so that in every worker ``import orthanc`` is the
compatibility module whose SDK calls travel back to the master, and
``runtime.config`` is the master's validated section. A Dask worker is
prepared by runtime.worker.dask_cluster instead.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from pool import call_master, in_task
from runtime import compat
from runtime.configuration import settings
from runtime.sdk import pylog, telemetry, transport

sys.modules.setdefault("orthanc", compat)
transport.use_master(call_master, in_task)
pylog.install_in_worker()  # before the script: its logging goes to Orthanc's log


def initialize(section: dict[str, Any], imports: tuple[str, ...] = ()) -> None:
    """Runs once in each worker before its first task; imports the scripts that may reload."""
    from runtime.worker import fast

    sys.modules.setdefault("orthanc", compat)
    fast.install()  # requests of the fast path (runtime/worker/fast.py), if the master sends any
    settings.install(section)
    telemetry.configure(section)  # this worker's own exporter, if "Telemetry" asks for traces
    if imports:
        sys.dont_write_bytecode = True  # an edit within the second must not hit a stale .pyc
        for name in imports:
            importlib.import_module(name)
