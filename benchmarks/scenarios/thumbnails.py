"""P8: a real workload, thumbnails of large images, driven by wrk.

The images of ``benchmarks/images.py`` (a 2048 x 2048 16-bit radiograph, a
512 x 512 CT, a 640 x 480 RGB ultrasound, a 40-frame MR) are stored in five
Orthanc servers started for this scenario:

    official 4.0 + seed      the official plugin with the seed's thumbnail sample (inline)
    ours + seed              our plugin with the same sample, through ``import orthanc``
    recipe, Pixels=full      the thumbnails recipe as it was first written: Orthanc renders
                             the whole frame (PNG) in the master, a worker shrinks it
    recipe, Pixels=scaled    Orthanc renders the frame at 4x the thumbnail's size
    recipe, Pixels=raw       the worker windows the raw frame itself (the default)

Each is loaded by wrk, with 1 and 4 connections, for a fixed time; the
configurations rotate from one round to the next. A thumbnail is 64 pixels
(the seed's size); the recipe makes a multi-frame image's from its series
(``/thumbnails/series/...``, the middle frame), the seed's sample from frame 0.
The master's CPU (Orthanc's process: its HTTP threads, its decoders, the
plugin) and the workers' (its child processes) are read before and after
each run, and divided by the thumbnails answered. wrk shares the machine's
cores with the servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import images, servers, wrk
from ..load import Client
from ..stats import median, ratio
from .base import Context, Result, expect_ok, ms, rotated, verdict
from .large_instance import upload

ID = "P8"
TITLE = "real workload: 64-pixel thumbnails of large images under wrk"
TARGET = ("2048 x 2048, 4 connections: recipe >= 10x official + seed's sample, and the "
          "master's CPU a thumbnail <= 10% of the recipe's first way (Pixels=full)")
SEED = Path(__file__).resolve().parents[2] / "tests" / "scripts" / "seed" / "thumbnail.py"
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "thumbnails.py"
JUDGED_IMAGE = "radiograph"
JUDGED_CONNECTIONS = 4


@dataclass(frozen=True)
class Configuration:
    name: str
    make: Callable[[Path, int], servers.Server]
    recipe: bool           # /thumbnails/... rather than the seed's /pydicom/...
    every_image: bool      # measured on every image, not only the radiograph


def _recipe(pixels: str) -> Callable[[Path, int], servers.Server]:
    def make(folder: Path, workers: int) -> servers.Server:
        return servers.ours(f"thumbs-{pixels}", folder, RECIPE, {"PythonRuntime": {
            "Pool": {"Workers": workers}, "Recipes": {"Thumbnails": {"Pixels": pixels}}}})
    return make


CONFIGURATIONS = [
    Configuration("official 4.0 + seed's sample",
                  lambda folder, _: servers.official("thumbs-official", folder, SEED),
                  recipe=False, every_image=True),
    Configuration("ours + seed's sample (import orthanc)",
                  lambda folder, _: servers.ours("thumbs-seed", folder, SEED),
                  recipe=False, every_image=True),
    Configuration("ours, recipe, Pixels=full (its first way)", _recipe("full"),
                  recipe=True, every_image=False),
    Configuration("ours, recipe, Pixels=scaled", _recipe("scaled"),
                  recipe=True, every_image=False),
    Configuration("ours, recipe, Pixels=raw (default)", _recipe("raw"),
                  recipe=True, every_image=True),
]
OFFICIAL, _, FIRST_WAY, _, RAW = (c.name for c in CONFIGURATIONS)


@dataclass
class Runs:
    """What one configuration did on one image with one connection count, over rounds."""

    rates: list[float] = field(default_factory=list)
    master_cpu: list[float] = field(default_factory=list)   # seconds a thumbnail
    worker_cpu: list[float] = field(default_factory=list)
    latency_median: list[float] = field(default_factory=list)
    failed: int = 0


def _paths(server: servers.Server, recipe: bool, files: dict[str, Path]) -> dict[str, str]:
    """Each image's thumbnail URI on ``server``, after storing the image there."""
    paths = {}
    for name, path in files.items():
        instance = upload(server.port, path.read_bytes())
        if not recipe:
            paths[name] = f"/pydicom/{instance}"
        elif name == "multiframe":
            series = server.get_json(f"/instances/{instance}")["ParentSeries"]
            paths[name] = f"/thumbnails/series/{series}?size=64"
        else:
            paths[name] = f"/thumbnails/{instance}?size=64"
    return paths


def _measure(server: servers.Server, path: str, connections: int, seconds: float,
             into: Runs) -> None:
    master_before, workers_before = server.cpu_split()
    outcome = wrk.run(server.url + path, connections, seconds)
    master_after, workers_after = server.cpu_split()
    answered = max(1, outcome.requests - outcome.failed)
    into.rates.append(outcome.per_second)
    into.master_cpu.append((master_after - master_before) / answered)
    into.worker_cpu.append((workers_after - workers_before) / answered)
    into.latency_median.append(outcome.latency_median_s)
    into.failed += outcome.failed


def run(context: Context) -> Result:
    settings = context.settings
    files = {name: images.IMAGES[name](context.workdir / f"{name}.dcm")
             for name in settings.workload_images}
    runs: dict[tuple[str, str, int], Runs] = {}
    with contextlib.ExitStack() as stack:
        started: dict[str, servers.Server] = {}
        for configuration in CONFIGURATIONS:
            server = configuration.make(context.workdir / f"thumbs-{len(started)}", context.cores)
            stack.callback(server.stop)
            server.start()
            started[configuration.name] = server
        paths: dict[str, dict[str, str]] = {}
        for configuration in CONFIGURATIONS:
            server = started[configuration.name]
            server.wait_ready()
            if configuration.recipe:  # every worker up before anything is timed
                server.poll_until("/runtime/status", lambda status: status["pool"]["workers"]
                                  ["idle"] == context.cores)
            paths[configuration.name] = _paths(server, configuration.recipe, files)
            client = Client(server.port)
            for path in paths[configuration.name].values():  # warm-up, and a check
                answer = client.get(path)
                expect_ok(answer.status, f"{configuration.name} {path}", answer.body)
            client.close()

        for image in settings.workload_images:
            chosen = [c for c in CONFIGURATIONS if c.every_image or image == JUDGED_IMAGE]
            rounds = settings.workload_rounds if image == JUDGED_IMAGE else 1
            for round_ in range(rounds):
                for connections in settings.workload_connections:
                    for configuration in rotated(chosen, round_):
                        key = (image, configuration.name, connections)
                        _measure(started[configuration.name],
                                 paths[configuration.name][image], connections,
                                 settings.workload_seconds, runs.setdefault(key, Runs()))

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
                official = runs[(image, OFFICIAL, connections)]
                rate = median(measured.rates)
                figures: dict[str, Any] = {
                    "thumbnails_per_s": rate, "rounds_per_s": measured.rates,
                    "ratio_to_official": ratio(rate, median(official.rates)),
                    "master_cpu_per_thumbnail_s": median(measured.master_cpu),
                    "worker_cpu_per_thumbnail_s": median(measured.worker_cpu),
                    "latency_median_s": median(measured.latency_median),
                    "failed": measured.failed,
                }
                result.data[f"{image} / {configuration.name} / {connections}"] = figures
                cells.append(
                    f"{connections} conn.: {rate:.1f}/s ({figures['ratio_to_official']:.1f}x "
                    f"official), master {ms(figures['master_cpu_per_thumbnail_s'])} + workers "
                    f"{ms(figures['worker_cpu_per_thumbnail_s'])} CPU a thumbnail, latency "
                    f"{ms(figures['latency_median_s'])}"
                    + (f", {measured.failed} failed" if measured.failed else ""))
            if cells:
                result.rows.append((f"{image}: {configuration.name}", "; ".join(cells)))

    judged = (JUDGED_IMAGE, JUDGED_CONNECTIONS)
    if JUDGED_CONNECTIONS not in settings.workload_connections:
        result.verdict, result.judged = "reported", "4 connections not measured"
        return result
    key = f"{judged[0]} / {{}} / {judged[1]}"
    speed_up = result.data[key.format(RAW)]["ratio_to_official"]
    master = result.data[key.format(RAW)]["master_cpu_per_thumbnail_s"]
    first_way = result.data[key.format(FIRST_WAY)]["master_cpu_per_thumbnail_s"]
    share = ratio(master, first_way)
    result.data.update(speed_up=speed_up, master_cpu_share_of_first_way=share)
    failed = sum(r.failed for r in runs.values())
    result.verdict = verdict(speed_up >= 10 and share <= 0.10 and not failed)
    result.judged = (f"recipe {speed_up:.1f}x official; master CPU {ms(master)} a thumbnail, "
                     f"{share:.1%} of the first way's {ms(first_way)}"
                     + (f"; {failed} failed requests" if failed else ""))
    return result
