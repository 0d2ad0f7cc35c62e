"""What the real-workload scenarios share: servers started for the scenario, and wrk runs with CPU.

A configuration is an Orthanc made for the scenario (the official plugin or
ours, a script or a recipe); ``start`` launches them all, then waits for each
and, when it has a pool, for every worker. ``measure`` runs wrk on one URL
and reads the CPU time of Orthanc's own process (the master: its HTTP
threads, its decoders, the plugin's interpreter) and of its child processes
(the workers) before and after: both are divided by the answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import servers, wrk
from .scenarios.base import ms
from .stats import median, ratio


@dataclass(frozen=True)
class Configuration:
    name: str
    make: Callable[[Path, int], servers.Server]  # (folder, workers) -> a server not started
    pool: bool                                     # wait for its workers before timing


@dataclass
class Runs:
    """What one configuration did on one URL with one connection count, over rounds."""

    rates: list[float] = field(default_factory=list)
    master_cpu: list[float] = field(default_factory=list)   # seconds an answer
    worker_cpu: list[float] = field(default_factory=list)
    latency_median: list[float] = field(default_factory=list)
    failed: int = 0

    def figures(self, reference: Runs) -> dict[str, Any]:
        rate = median(self.rates)
        return {"per_s": rate, "rounds_per_s": self.rates,
                "ratio_to_official": ratio(rate, median(reference.rates)),
                "master_cpu_s": median(self.master_cpu),
                "worker_cpu_s": median(self.worker_cpu),
                "latency_median_s": median(self.latency_median), "failed": self.failed}


def start(stack: contextlib.ExitStack, configurations: list[Configuration], workdir: Path,
          workers: int) -> dict[str, servers.Server]:
    """Every configuration's server, started at once, each ready (and its workers idle)."""
    started: dict[str, servers.Server] = {}
    for index, configuration in enumerate(configurations):
        server = configuration.make(workdir / f"{index}", workers)
        stack.callback(server.stop)
        server.start()
        started[configuration.name] = server
    for configuration in configurations:
        server = started[configuration.name]
        server.wait_ready()
        if configuration.pool:
            server.poll_until("/runtime/status",
                              lambda status: status["pool"]["workers"]["idle"] == workers)
    return started


def measure(server: servers.Server, path: str, connections: int, seconds: float,
            into: Runs) -> None:
    """One wrk run on ``path``; its rate, and the CPU an answer cost, appended to ``into``."""
    master_before, workers_before = server.cpu_split()
    outcome = wrk.run(server.url + path, connections, seconds)
    master_after, workers_after = server.cpu_split()
    answered = max(1, outcome.requests - outcome.failed)
    into.rates.append(outcome.per_second)
    into.master_cpu.append((master_after - master_before) / answered)
    into.worker_cpu.append((workers_after - workers_before) / answered)
    into.latency_median.append(outcome.latency_median_s)
    into.failed += outcome.failed


def cell(connections: int, figures: dict[str, Any], unit: str) -> str:
    """One connection count's figures, as the table shows them."""
    return (f"{connections} conn.: {figures['per_s']:.1f} {unit}/s "
            f"({figures['ratio_to_official']:.1f}x official), CPU a {unit}: master "
            f"{ms(figures['master_cpu_s'])}, workers {ms(figures['worker_cpu_s'])}; latency "
            f"{ms(figures['latency_median_s'])}"
            + (f"; {figures['failed']} failed" if figures["failed"] else ""))
