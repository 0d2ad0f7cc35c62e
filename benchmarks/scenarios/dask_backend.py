"""P11: the dask backend beside the local pool: a trivial task's cost, and P1's efficiency.

A real cluster is started for it on loopback (``dask scheduler`` and as many
one-thread ``dask worker`` processes as the local pool has workers, from this
virtual environment), and an Orthanc whose configuration differs from
"ours" only in ``"Pool": {"Backend": "dask"}``. Requests alternate between the
two Orthancs (trivial route: one client, pairs in random order; CPU-bound:
bursts of 1 and ``cores`` clients, repetitions rotated), so both see the same
machine. Figures are reported, not judged: Dask batches its messages every few
milliseconds, so a trivial task costs milliseconds there, microseconds locally.
"""

from __future__ import annotations

import random

from tests.dask_cluster import DaskCluster

from .. import servers
from ..load import Client, burst
from ..stats import median, quantile
from .base import Context, Result, expect_ok, ms, rotated

ID = "P11"
TITLE = "dask backend beside the local pool: trivial task, CPU-bound parallel efficiency"
TARGET = "reported (no target)"
TRIVIAL = "/bench/trivial-offload"
CPU = "/bench/computation-offload"


def run(context: Context) -> Result:
    cluster = DaskCluster(context.workdir / "dask-cluster", workers=context.cores)
    cluster.start()
    dask = servers.ours("ours-dask", context.workdir / "ours-dask", servers.SCRIPTS / "ours.py",
                        {"PythonRuntime": {"Pool": {"Backend": "dask",
                                                    "Dask": {"Scheduler": cluster.address}}}})
    try:
        dask.start()
        dask.wait_ready()
        ports = {"local pool": context.servers["ours"].port, "dask": dask.port}
        result = Result(ID, TITLE, TARGET)
        _trivial(context, ports, result)
        _cpu(context, ports, result)
        return result
    finally:
        dask.stop()
        cluster.stop()


def _trivial(context: Context, ports: dict[str, int], result: Result) -> None:
    clients = {name: Client(port) for name, port in ports.items()}
    samples: dict[str, list[float]] = {name: [] for name in ports}
    names = list(ports)
    for _ in range(20):  # warm-up: connections, imports in the workers
        for name in names:
            clients[name].get(TRIVIAL)
    pairs = max(20, context.settings.latency_pairs // 10)
    order = random.Random(11)
    for _ in range(pairs):
        order.shuffle(names)
        for name in names:
            reply = clients[name].get(TRIVIAL)
            expect_ok(reply.status, name, reply.body)
            samples[name].append(reply.seconds)
    for client in clients.values():
        client.close()
    for name, values in samples.items():
        result.data[f"trivial {name}"] = {"median_s": median(values),
                                          "p99_s": quantile(values, 0.99), "count": len(values)}
        result.rows.append((f"trivial offloaded route, {name}",
                            f"median {ms(median(values))}, p99 {ms(quantile(values, 0.99))} "
                            f"({len(values)} requests, one client)"))
    added = median(samples["dask"]) - median(samples["local pool"])
    result.data["dask_minus_local_median_s"] = added
    result.judged = f"trivial task: dask {ms(median(samples['dask']))}, " \
                    f"local {ms(median(samples['local pool']))}"


def _cpu(context: Context, ports: dict[str, int], result: Result) -> None:
    counts = sorted({1, context.cores})
    configurations = list(ports.items())
    walls: dict[tuple[str, int], list[float]] = {}
    for _name, port in configurations:
        burst(port, f"{CPU}?outer=1", 1)
    for repetition in range(context.settings.cpu_repetitions):
        for clients in counts:
            for name, port in rotated(configurations, repetition + clients):
                wall, outcomes = burst(port, f"{CPU}?outer={context.outer}", clients)
                for outcome in outcomes:
                    if outcome.reply is None:
                        raise RuntimeError(f"{name}: {outcome.error}")
                    expect_ok(outcome.reply.status, name, outcome.reply.body)
                walls.setdefault((name, clients), []).append(wall)
    efficiencies = {}
    for name, _ in configurations:
        single = median(walls[(name, 1)])
        medians = {c: median(walls[(name, c)]) for c in counts}
        efficiency = {c: c * single / (medians[c] * min(c, context.cores)) for c in counts}
        efficiencies[name] = efficiency[context.cores]
        result.data[f"cpu {name}"] = {"wall_median_s": {str(c): medians[c] for c in counts},
                                      "efficiency": {str(c): efficiency[c] for c in counts}}
        result.rows.append((f"CPU-bound offloaded route (P1), {name}",
                            "wall " + " / ".join(f"{medians[c]:.2f}" for c in counts)
                            + " s for " + " / ".join(str(c) for c in counts) + " clients; "
                            f"efficiency at {context.cores}: {efficiency[context.cores]:.2f}"))
    result.judged += (f"; P1 efficiency at {context.cores} clients: dask "
                      f"{efficiencies['dask']:.2f}, local {efficiencies['local pool']:.2f}")
