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

Only the fork server imports this module; the master never does.
"""

from __future__ import annotations

import sys

from pool import worker


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
