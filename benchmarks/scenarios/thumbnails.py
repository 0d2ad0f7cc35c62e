"""P8: a real workload, thumbnails of large images, driven by wrk.

The images of ``benchmarks/images.py`` (a 2048 x 2048 16-bit radiograph, a
512 x 512 CT, a 640 x 480 RGB ultrasound, a 40-frame MR) are stored in five
Orthanc servers started for this scenario:

    official 4.0 + baseline  the official plugin with the project's baseline script
                             (benchmarks/scripts/official_workloads.py, inline)
    ours + baseline          our plugin with the same script, through ``import orthanc``
    recipe, Pixels=full      the thumbnails recipe as it was first written: Orthanc renders
                             the whole frame (PNG) in the master, a worker shrinks it
    recipe, Pixels=scaled    Orthanc renders the frame at 4x the thumbnail's size
    recipe, Pixels=raw       the worker windows the raw frame itself (the default)

Each is loaded by wrk, with 1 and 4 connections, for a fixed time; the
configurations rotate from one round to the next. A thumbnail is 64 pixels
(the official documentation's size); the recipe makes a multi-frame image's from its series
(``/thumbnails/series/...``, the middle frame), the baseline script from frame 0.
The master's CPU (Orthanc's process: its HTTP threads, its decoders, the
plugin) and the workers' (its child processes) are read before and after
each run, and divided by the thumbnails answered. wrk shares the machine's
cores with the servers.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from .. import images, servers, workload
from ..load import Client
from ..workload import Configuration, Runs
from .base import Context, Result, expect_ok, ms, rotated, verdict
from .large_instance import upload

ID = "P8"
TITLE = "real workload: 64-pixel thumbnails of large images under wrk"
TARGET = ("2048 x 2048, 4 connections: recipe >= 10x official + baseline script, and the "
          "master's CPU a thumbnail <= 10% of the recipe's first way (Pixels=full)")
ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "benchmarks" / "scripts" / "official_workloads.py"
RECIPE = ROOT / "recipes" / "thumbnails.py"
JUDGED_IMAGE = "radiograph"
JUDGED_CONNECTIONS = 4


def _recipe(pixels: str) -> Configuration:
    def make(folder: Path, workers: int) -> servers.Server:
        return servers.ours(f"thumbs-{pixels}", folder, RECIPE, {"PythonRuntime": {
            "Pool": {"Workers": workers}, "Recipes": {"Thumbnails": {"Pixels": pixels}}}})
    way = {"full": "Pixels=full (its first way)", "raw": "Pixels=raw (default)"}
    return Configuration(f"ours, recipe, {way.get(pixels, f'Pixels={pixels}')}", make, pool=True)


CONFIGURATIONS = [
    Configuration("official 4.0 + baseline script",
                  lambda folder, _: servers.official("thumbs-official", folder, BASELINE), pool=False),
    Configuration("ours + baseline script (import orthanc)",
                  lambda folder, _: servers.ours("thumbs-baseline", folder, BASELINE), pool=False),
    _recipe("full"),
    _recipe("scaled"),
    _recipe("raw"),
]
OFFICIAL, _, FIRST_WAY, _, RAW = (c.name for c in CONFIGURATIONS)
# The recipe's other ways are measured on the judged image only.
EVERY_IMAGE = {OFFICIAL, CONFIGURATIONS[1].name, RAW}


def _paths(server: servers.Server, recipe: bool, files: dict[str, Path]) -> dict[str, str]:
    """Each image's thumbnail URI on ``server``, after storing the image there."""
    paths = {}
    for name, path in files.items():
        instance = upload(server.port, path.read_bytes())
        if not recipe:
            paths[name] = f"/baseline/thumbnail/{instance}"
        elif name == "multiframe":
            series = server.get_json(f"/instances/{instance}")["ParentSeries"]
            paths[name] = f"/thumbnails/series/{series}?size=64"
        else:
            paths[name] = f"/thumbnails/{instance}?size=64"
    return paths


def run(context: Context) -> Result:
    settings = context.settings
    files = {name: images.IMAGES[name](context.workdir / f"{name}.dcm")
             for name in settings.workload_images}
    runs: dict[tuple[str, str, int], Runs] = {}
    with contextlib.ExitStack() as stack:
        started = workload.start(stack, CONFIGURATIONS, context.workdir / "thumbnails",
                                 context.cores)
        paths: dict[str, dict[str, str]] = {}
        for configuration in CONFIGURATIONS:
            server = started[configuration.name]
            paths[configuration.name] = _paths(server, configuration.pool, files)
            client = Client(server.port)
            for path in paths[configuration.name].values():  # warm-up, and a check
                answer = client.get(path)
                expect_ok(answer.status, f"{configuration.name} {path}", answer.body)
            client.close()

        for image in settings.workload_images:
            chosen = [c for c in CONFIGURATIONS if c.name in EVERY_IMAGE or image == JUDGED_IMAGE]
            rounds = settings.workload_rounds if image == JUDGED_IMAGE else 1
            for round_ in range(rounds):
                for connections in settings.workload_connections:
                    for configuration in rotated(chosen, round_):
                        workload.measure(started[configuration.name],
                                         paths[configuration.name][image], connections,
                                         settings.workload_seconds,
                                         runs.setdefault((image, configuration.name, connections),
                                                         Runs()))
    return _result(context, runs)


def _result(context: Context, runs: dict[tuple[str, str, int], Runs]) -> Result:
    result = Result(ID, TITLE, TARGET)
    settings = context.settings
    for image in settings.workload_images:
        for configuration in CONFIGURATIONS:
            cells = []
            for connections in settings.workload_connections:
                measured = runs.get((image, configuration.name, connections))
                if measured is None:
                    continue
                figures: dict[str, Any] = measured.figures(runs[(image, OFFICIAL, connections)])
                result.data[f"{image} / {configuration.name} / {connections}"] = figures
                cells.append(workload.cell(connections, figures, "thumbnail"))
            if cells:
                result.rows.append((f"{image}: {configuration.name}", "; ".join(cells)))

    if JUDGED_CONNECTIONS not in settings.workload_connections \
            or JUDGED_IMAGE not in settings.workload_images:
        result.judged = "the judged image or connection count was not measured"
        return result
    key = f"{JUDGED_IMAGE} / {{}} / {JUDGED_CONNECTIONS}"
    speed_up = result.data[key.format(RAW)]["ratio_to_official"]
    master = result.data[key.format(RAW)]["master_cpu_s"]
    first_way = result.data[key.format(FIRST_WAY)]["master_cpu_s"]
    share = master / first_way if first_way else float("nan")
    result.data.update(speed_up=speed_up, master_cpu_share_of_first_way=share)
    failed = sum(r.failed for r in runs.values())
    result.verdict = verdict(speed_up >= 10 and share <= 0.10 and not failed)
    result.judged = (f"recipe {speed_up:.1f}x official; master CPU {ms(master)} a thumbnail, "
                     f"{share:.1%} of the first way's {ms(first_way)}"
                     + (f"; {failed} failed requests" if failed else ""))
    return result
