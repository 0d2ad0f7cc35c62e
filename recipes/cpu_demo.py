"""The seed's CPU experiment, to reproduce with curl: the same loop inline and offloaded.

    curl 'http://localhost:8042/computation?n=1000'          # in a worker of the pool
    curl 'http://localhost:8042/computation/inline?n=1000'   # in Orthanc's own interpreter

    # three at once: offloaded, they take as long as one; inline, three times longer
    for i in 1 2 3; do curl -s http://localhost:8042/computation & done; wait
    for i in 1 2 3; do curl -s http://localhost:8042/computation/inline & done; wait

``n`` is the number of outer iterations of the seed's loop (each takes 30000
square roots; 1000 take a few seconds). The answer says how long the loop took,
in which process, and when it started and ended (``time.time()``), so that
overlapping calls can be seen to overlap::

    {"n": 1000, "seconds": 3.912, "pid": 4242, "offloaded": true,
     "start": 1714471234.51, "end": 1714471238.42}

Run it alone with ``orthanc-runtime run recipes/cpu_demo.py``, or enable it
with ``"PythonRuntime": {"Recipes": {"CpuDemo": {"Enabled": true}}}``;
settings: ``DefaultIterations`` and ``MaxIterations``. A long ``n`` offloaded
is bounded by ``Pool.TaskTimeout`` too (504 when it runs out).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from recipes import query_int, settings
from runtime import Request, offload, route

CONFIG_KEY = "CpuDemo"

INNER_ITERATIONS = 30000


def slow_computation(n: int) -> dict[str, Any]:
    """The seed's loop, ``n`` times 30000 square roots, timed."""
    start = time.time()
    for _ in range(n):
        for j in range(INNER_ITERATIONS):
            math.sqrt(float(j))
    end = time.time()
    return {"n": n, "seconds": round(end - start, 3), "pid": os.getpid(), "start": start, "end": end}


def _iterations(request: Request) -> int:
    section = settings(CONFIG_KEY)
    return query_int(request, "n", section["DefaultIterations"], 0, section["MaxIterations"])


@route("/computation")
@offload
def computation(request: Request) -> dict[str, Any]:
    """The loop in a worker process: concurrent calls run side by side."""
    return {**slow_computation(_iterations(request)), "offloaded": True}


@route("/computation/inline")
def computation_inline(request: Request) -> dict[str, Any]:
    """The loop in Orthanc's interpreter, as the seed runs it: concurrent calls queue on the GIL."""
    return {**slow_computation(_iterations(request)), "offloaded": False}
