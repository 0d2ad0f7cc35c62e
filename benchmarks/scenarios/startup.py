"""P6: start-up, from launching Orthanc until the pool has all its workers ready.

Measured from the launch of the ``Orthanc`` process until ``/runtime/status``
shows every worker idle (polled every 5 ms). Beside it, in the same run and
interleaved: our plugin with a script without offloaded handlers (no pool),
and Orthanc without any plugin, until their first answer. Each start uses a
fresh storage folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import servers
from ..stats import median
from .base import Context, Result, ms, rotated, verdict

ID = "P6"
TITLE = "start-up until all workers are ready (Pool.Workers=2)"
TARGET = "<= 1.5 s with 2 workers"
WORKERS = 2


def _pool_ready(status: Any) -> bool:
    pool = status.get("pool")
    return bool(pool) and pool["workers"]["idle"] == WORKERS


Variant = tuple[str, Callable[[Path], servers.Server], str, Callable[[Any], bool]]

VARIANTS: list[Variant] = [
    (f"ours, Pool.Workers={WORKERS}",
     lambda folder: servers.ours("startup-pool", folder, servers.SCRIPTS / "ours.py",
                                 {"PythonRuntime": {"Pool": {"Workers": WORKERS}}}),
     "/runtime/status", _pool_ready),
    ("ours, no offloaded handler (no pool)",
     lambda folder: servers.ours("startup-inline", folder, servers.SCRIPTS / "ours_inline_only.py"),
     "/runtime/status", lambda status: True),
    ("Orthanc alone (no plugin)",
     lambda folder: servers.bare("startup-bare", folder),
     "/system", lambda status: True),
]


def run(context: Context) -> Result:
    times: dict[str, list[float]] = {name: [] for name, *_ in VARIANTS}
    for repetition in range(context.settings.startup_repetitions):
        for index, (name, make, path, ready) in enumerate(rotated(VARIANTS, repetition)):
            server = make(context.workdir / f"startup-{repetition}-{index}")
            server.start()
            try:
                times[name].append(server.poll_until(path, ready))
            finally:
                server.stop()

    result = Result(ID, TITLE, TARGET)
    bare = median(times["Orthanc alone (no plugin)"])
    for name, *_ in VARIANTS:
        value = median(times[name])
        result.data[name] = {"median_s": value, "times_s": times[name],
                             "minus_orthanc_alone_s": value - bare}
        extra = "" if name.startswith("Orthanc alone") else f" (+{ms(value - bare)} over Orthanc alone)"
        result.rows.append((name, f"{ms(value)}{extra}"))
    pool = result.data[VARIANTS[0][0]]["median_s"]
    result.verdict = verdict(pool <= 1.5)
    result.judged = f"{pool:.2f} s"
    return result
