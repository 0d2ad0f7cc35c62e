"""P9: a real workload, the pydicom dump of a 32 MB instance, driven by wrk.

The instance of ``benchmarks/big_instance.py`` (16 frames of 2048 x 2048,
16 bits) is stored in three Orthanc servers started for this scenario: the
official plugin with the project's baseline script
(``benchmarks/scripts/official_workloads.py``: ``GetDicomForInstance`` then
``str(pydicom.dcmread(...))``, inline), our plugin with the same script
through ``import orthanc``, and our pydicom dump recipe (the same work in a
worker: the file travels from the master in shared memory). wrk loads each
with 1 and 4 connections, the configurations rotating from round to round;
the master's and the workers' CPU are divided by the dumps answered.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from .. import big_instance, servers, workload
from ..load import Client
from ..workload import Configuration, Runs
from .base import Context, Result, expect_ok, rotated
from .large_instance import upload

ID = "P9"
TITLE = "real workload: pydicom dump of a 32 MB instance under wrk (--quick: 8 MB)"
TARGET = "reported (no target): dumps/s and CPU a dump, master and workers"
ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "benchmarks" / "scripts" / "official_workloads.py"
RECIPE = ROOT / "recipes" / "pydicom_dump.py"

CONFIGURATIONS = [
    Configuration("official 4.0 + baseline script",
                  lambda folder, _: servers.official("dump-official", folder, BASELINE), pool=False),
    Configuration("ours + baseline script (import orthanc)",
                  lambda folder, _: servers.ours("dump-baseline", folder, BASELINE), pool=False),
    Configuration("ours, recipe (@offload)",
                  lambda folder, workers: servers.ours("dump-recipe", folder, RECIPE, {
                      "PythonRuntime": {"Pool": {"Workers": workers}}}), pool=True),
]
OFFICIAL, _, RECIPE_NAME = (c.name for c in CONFIGURATIONS)


def run(context: Context) -> Result:
    settings = context.settings
    data = big_instance.write(context.workdir / "dump.dcm",
                              megabytes=settings.dump_megabytes).read_bytes()
    runs: dict[tuple[str, int], Runs] = {}
    with contextlib.ExitStack() as stack:
        started = workload.start(stack, CONFIGURATIONS, context.workdir / "dump", context.cores)
        paths = {}
        for configuration in CONFIGURATIONS:
            server = started[configuration.name]
            route = "/pydicom" if configuration.name == RECIPE_NAME else "/baseline/dump"
            paths[configuration.name] = f"{route}/{upload(server.port, data)}"
            client = Client(server.port)
            answer = client.get(paths[configuration.name])  # warm-up, and a check
            client.close()
            expect_ok(answer.status, configuration.name, answer.body)
            if b"Pixel Data" not in answer.body:
                raise RuntimeError(f"{configuration.name}: not a dump: {answer.body[:200]!r}")
        for round_ in range(settings.workload_rounds):
            for connections in settings.workload_connections:
                for configuration in rotated(CONFIGURATIONS, round_):
                    workload.measure(started[configuration.name], paths[configuration.name],
                                     connections, settings.workload_seconds,
                                     runs.setdefault((configuration.name, connections), Runs()))

    result = Result(ID, TITLE, TARGET)
    for configuration in CONFIGURATIONS:
        cells = []
        for connections in settings.workload_connections:
            figures: dict[str, Any] = runs[(configuration.name, connections)].figures(
                runs[(OFFICIAL, connections)])
            result.data[f"{configuration.name} / {connections}"] = figures
            cells.append(workload.cell(connections, figures, "dump"))
        result.rows.append((configuration.name, "; ".join(cells)))
    best = max(settings.workload_connections)
    speed_up = result.data[f"{RECIPE_NAME} / {best}"]["ratio_to_official"]
    result.data.update(size_bytes=len(data), speed_up=speed_up)
    result.judged = f"recipe {speed_up:.1f}x official at {best} connections ({len(data) >> 20} MB)"
    return result
