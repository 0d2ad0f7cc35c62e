"""Imported first by the fork server (see ``pool.context``), to make it a worker-side process.

The fork server imports ``preload`` once, before it forks any worker, so that
a new worker only forks. Two things make that import behave as it would in a
spawned worker:

* ``in_worker()`` is True from here on, so preloaded modules see True at
  import time, as they do in a worker that imports them itself.
* On Python 3.11 the fork server is handed the master's ``sys.path`` but does
  not use it (3.12 does), so a module found through a path the master added
  at run time would silently fail to preload. We adopt that ``sys.path`` from
  the fork server's ``main`` frame, which is importing us.

It then imports the pool's ``preload`` modules (named in the environment by
``pool.context``), each guarded: a module that fails here is reported on
stderr and left to each worker, which imports it again and reports the
failure as its start-up error, instead of killing the fork server.

Only the fork server imports this module; the master never does.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from pool import worker
from pool.context import PRELOAD_VARIABLE


def _adopt_master_sys_path() -> None:
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if (
            code.co_name == "main"
            and frame.f_globals.get("__name__") == "multiprocessing.forkserver"
        ):
            master_path = frame.f_locals.get("sys_path")
            if master_path:
                sys.path[:] = master_path
            return
        frame = frame.f_back  # type: ignore[assignment]


worker._in_worker = True
_adopt_master_sys_path()


def _preload() -> None:
    for module in filter(None, os.environ.get(PRELOAD_VARIABLE, "").split(",")):
        try:
            importlib.import_module(module)
        except BaseException:  # noqa: BLE001 - whatever it is, the fork server must live
            print(f"pool: the fork server could not preload {module}; each worker will import "
                  f"it itself:\n{traceback.format_exc()}", file=sys.stderr, flush=True)


_preload()
