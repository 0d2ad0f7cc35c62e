"""P10: a real workload, auto-routing: stable studies sent to a second Orthanc by C-STORE.

Three routers, each with its own receiver (an Orthanc without plugin, the
DICOM modality ``sample``), all with ``StableAge`` 1 s: the official plugin
with the project's baseline script (``benchmarks/scripts/official_routing.py``: on
``STABLE_STUDY``, a synchronous ``/modalities/sample/store`` in the callback, as
the official documentation shows it), our plugin with the same script through
``import orthanc``, and our auto-routing recipe (a rule that
matches every study; Orthanc's asynchronous store jobs, followed by the
recipe). A round uploads ``routing_studies`` new studies of
``routing_instances`` small CT slices to one router, then waits until its
receiver has every instance; the routers rotate from round to round. The
figure is studies a second from the first upload to the last instance
received, which includes the uploads and the 1 s of StableAge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import images, servers
from ..stats import median, ratio
from .base import Context, Result, rotated
from .large_instance import upload

ID = "P10"
TITLE = "real workload: auto-routing of stable studies to a second Orthanc (C-STORE)"
TARGET = "reported (no target): studies/s from the first upload to the last instance received"
ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "benchmarks" / "scripts" / "official_routing.py"
RECIPE = ROOT / "recipes" / "autorouting.py"
STABLE_AGE = 1
WAIT = 120.0  # seconds a round may take before the scenario gives up

Router = Callable[[Path, dict[str, Any]], servers.Server]

ROUTERS: list[tuple[str, Router]] = [
    ("official 4.0 + baseline script",
     lambda folder, extra: servers.official("route-official", folder, BASELINE, extra)),
    ("ours + baseline script (import orthanc)",
     lambda folder, extra: servers.ours("route-baseline", folder, BASELINE, extra)),
    ("ours, recipe (store jobs)",
     lambda folder, extra: servers.ours("route-recipe", folder, RECIPE, {**extra, "PythonRuntime": {
         "Recipes": {"AutoRouting": {"Rules": [{"Name": "all", "Modalities": ["sample"]}],
                                     "PollInterval": 0.2}}}})),
]


def _instances(server: servers.Server) -> int:
    return int(server.get_json("/statistics")["CountInstances"])


def _round(router: servers.Server, receiver: servers.Server, studies: list[list[bytes]]) -> float:
    """Uploads the studies to the router; the seconds until the receiver has them all."""
    expected = _instances(receiver) + sum(len(files) for files in studies)
    started = time.monotonic()
    for files in studies:
        for data in files:
            upload(router.port, data)
    while _instances(receiver) < expected:
        if time.monotonic() - started > WAIT:
            raise RuntimeError(f"{router.name}: {expected - _instances(receiver)} instance(s) "
                               f"not at the receiver after {WAIT:.0f} s\n{router.log_tail()}")
        time.sleep(0.02)
    return time.monotonic() - started


def run(context: Context) -> Result:
    settings = context.settings
    seconds: dict[str, list[float]] = {name: [] for name, _ in ROUTERS}
    with contextlib.ExitStack() as stack:
        pairs: dict[str, tuple[servers.Server, servers.Server]] = {}
        for index, (name, make) in enumerate(ROUTERS):
            folder = context.workdir / "routing" / str(index)
            receiver = servers.bare(f"receiver-{index}", folder / "receiver")
            stack.callback(receiver.stop)
            receiver.start()
            extra = {"StableAge": STABLE_AGE, "DicomModalities": {
                "sample": ["ORTHANC", "127.0.0.1", receiver.config["DicomPort"]]}}
            router = make(folder / "router", extra)
            stack.callback(router.stop)
            router.start()
            pairs[name] = (router, receiver)
        for router, receiver in pairs.values():
            receiver.wait_ready()
            router.wait_ready()
        for round_ in range(settings.workload_rounds):
            for name, _ in rotated(ROUTERS, round_):
                studies = [images.study(settings.routing_instances)
                           for _ in range(settings.routing_studies)]
                seconds[name].append(_round(*pairs[name], studies))

    result = Result(ID, TITLE, TARGET)
    count = settings.routing_studies
    official = count / median(seconds[ROUTERS[0][0]])
    for name, _ in ROUTERS:
        rate = count / median(seconds[name])
        result.data[name] = {"studies_per_s": rate, "rounds_s": seconds[name],
                             "ratio_to_official": ratio(rate, official)}
        result.rows.append((name, f"{rate:.2f} studies/s ({ratio(rate, official):.2f}x official): "
                                  f"{count} studies of {settings.routing_instances} instances in "
                                  f"{median(seconds[name]):.1f} s (StableAge {STABLE_AGE} s)"))
    recipe = result.data[ROUTERS[2][0]]["ratio_to_official"]
    result.judged = f"recipe {recipe:.2f}x official"
    return result
