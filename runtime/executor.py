"""The master's side of @offload: one pool of workers for the script's offloaded handlers.

It is started by runtime._plugin only when the script has offloaded
handlers; routes wait for their answer on the Orthanc HTTP thread (which
serves the worker's SDK calls meanwhile), events are fire-and-forget.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from pool import Pool

from . import backend, worker
from .http import Request, Response

_pool: Pool | None = None
_context_folder: str | None = None


def start(section: dict[str, Any], modules: list[str]) -> Pool:
    """Starts the pool described by the ``Pool`` section; returns when its workers are ready.

    ``modules`` (the script, the enabled recipes) are preloaded by the fork
    server, after runtime.worker, so that a new worker is ready at once.
    """
    global _pool, _context_folder
    settings = section["Pool"]
    preload = ["runtime.worker", *modules]
    # What a worker may read while it imports the script (Orthanc's configuration
    # holds secrets: a private folder, a 0600 file, removed at shutdown).
    _context_folder = tempfile.mkdtemp(prefix="orthanc-runtime-")
    backend.write_worker_context(os.path.join(_context_folder, "context.json"))
    pool = Pool(
        workers=settings["Workers"],
        start_method=settings["StartMethod"],
        preload=preload,
        initializer=functools.partial(worker.initialize, section),
        master_functions=backend.master_functions(),
        task_timeout=settings["TaskTimeout"],
        queue_limit=settings["QueueLimit"],
        max_tasks_per_worker=settings["MaxTasksPerWorker"],
        max_worker_memory_mb=settings["MaxWorkerMemoryMB"],
        shutdown_grace=settings["ShutdownGrace"],
        name="orthanc-runtime",
    )
    pool.start()
    _pool = pool
    return pool


def current() -> Pool | None:
    return _pool


def _require() -> Pool:
    if _pool is None:
        raise RuntimeError("the worker pool is not running")
    return _pool


def run_route(handler: Callable[..., Any], request: Request, timeout: float | None) -> Response:
    meta, body = _require().run(worker.run_route, (handler, request), timeout=timeout)
    status, content_type, headers = meta
    return Response(body, status=status, content_type=content_type, headers=headers)


def submit_event(handler: Callable[..., Any], event: Any, timeout: float | None) -> Future[Any]:
    return _require().submit(worker.run_event, (handler, event), timeout=timeout)


def shutdown(grace: float | None = None) -> None:
    global _pool, _context_folder
    pool, _pool = _pool, None
    try:
        if pool is not None:
            pool.shutdown(grace)
    finally:
        if _context_folder is not None:
            shutil.rmtree(_context_folder, ignore_errors=True)
            _context_folder = None
