"""The benchmark of orthanc-runtime against the official Python plugin (issue 6).

    .venv/bin/python -m benchmarks.run [--quick] [--out benchmarks/results] [--only P1,P3]

Starts the Orthanc configurations it compares on loopback ports (the official
plugin alone with its scripts, the official plugin with a
multiprocessing.Pool of 4 processes (``benchmarks/scripts/official_pool.py``), our plugin), a slow HTTP peer, runs the scenarios of
benchmarks/scenarios in order, then writes ``<date>.md`` and ``<date>.json``
into the output folder and prints the table. ``--quick`` is the smoke test's
tiny setting: it exercises everything, and its figures mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import report, servers
from .machine import describe, summary_line
from .scenarios import SCENARIOS
from .scenarios.base import FULL, QUICK, Context, Result, Settings
from .slow_peer import SlowPeer

DEFAULT_OUT = Path(__file__).parent / "results"
SLOW_PEER_DELAY = 1.0
BUSY_LOAD = 0.7  # load average per core above which the run warns that figures may be noisy


def loop_outer(seconds: float) -> int:
    """The CPU loop's outer count that takes about ``seconds`` in this Python.

    The fastest of a few short runs: the least disturbed one on a shared machine.
    """
    def one(outer: int) -> float:
        started = time.perf_counter()
        for _ in range(outer):
            for j in range(30000):
                math.sqrt(float(j))
        return time.perf_counter() - started

    per_iteration = min(one(20) for _ in range(3)) / 20
    return max(1, round(seconds / per_iteration))


def start_servers(stack: contextlib.ExitStack, workdir: Path, peer: SlowPeer,
                  cores: int) -> dict[str, servers.Server]:
    peers = peer.orthanc_peers()
    started = {
        "official": servers.official("official", workdir / "official",
                                     servers.SCRIPTS / "official.py", peers),
        "official_pool": servers.official("official-pool", workdir / "official-pool",
                                          servers.SCRIPTS / "official_pool.py"),
        "ours": servers.ours("ours", workdir / "ours", servers.SCRIPTS / "ours.py",
                             {**peers, "PythonRuntime": {"Pool": {"Workers": cores}}}),
        # The same with Pool.FastPath false: offloaded requests through the master's Python.
        "ours_python": servers.ours("ours-python", workdir / "ours-python",
                                    servers.SCRIPTS / "ours.py",
                                    {**peers, "PythonRuntime": {"Pool": {"Workers": cores,
                                                                         "FastPath": False}}}),
    }
    for server in started.values():
        stack.callback(server.stop)
        server.start()
    for server in started.values():
        server.wait_ready()
    return started


def run_scenario(module: object, context: Context) -> Result:
    started = time.monotonic()
    try:
        result: Result = module.run(context)  # type: ignore[attr-defined]
    except Exception as error:
        traceback.print_exc()
        result = Result(module.ID, module.TITLE, module.TARGET,  # type: ignore[attr-defined]
                        verdict="error", judged=f"{type(error).__name__}: {error}"[:300])
    result.seconds = time.monotonic() - started
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny setting for the smoke test (well under a minute)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the .md and .json results (default {DEFAULT_OUT})")
    parser.add_argument("--only", default="", help="comma-separated scenario ids, e.g. P1,P3")
    args = parser.parse_args(argv)
    settings: Settings = QUICK if args.quick else FULL
    wanted = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    chosen = [m for m in SCENARIOS if not wanted or m.ID in wanted]

    servers.official_plugin()  # fails early, saying how to install it
    began = time.monotonic()
    machine = describe()
    cores = machine["cores_usable"]
    print(f"Machine: {summary_line(machine)}", flush=True)
    if machine["load_average_at_start"][0] > BUSY_LOAD * cores:
        print(f"warning: load average {machine['load_average_at_start'][0]} on {cores} cores: "
              "something else is running, figures will be noisy", flush=True)

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="orthanc-bench-") as tmp, \
            SlowPeer(SLOW_PEER_DELAY) as peer, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        running = start_servers(stack, workdir, peer, cores)
        machine["official_python"] = running["official"].get_text("/bench/python").split()[0]
        outer = loop_outer(settings.cpu_seconds)
        context = Context(settings, cores, workdir, running, peer, outer)
        for module in chosen:
            print(f"{module.ID}: {module.TITLE} ...", flush=True)
            result = run_scenario(module, context)
            results.append(result)
            print(f"{module.ID}: {result.verdict} {result.judged} ({result.seconds:.0f} s)",
                  flush=True)

    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run = {"mode": settings.name, "seconds": time.monotonic() - began,
           "scenarios": [m.ID for m in chosen], "settings": vars(settings)}
    stem = datetime.datetime.now().strftime("%Y-%m-%d_%H%M") + ("-quick" if args.quick else "")
    md, js = report.write(args.out, stem, results, machine, run)
    print()
    print(report.markdown(results, machine, run))
    print(f"Written: {md} and {js}")
    return 1 if any(r.verdict == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
