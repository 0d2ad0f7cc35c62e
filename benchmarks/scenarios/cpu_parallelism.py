"""P1: the CPU-bound route (the official documentation's loop) under 1, 2 and 4 concurrent clients.

Each client sends one request at the same instant (threads: the clients only
wait); the wall time runs from the first request sent to the last answer read.
Parallel efficiency = clients x t1 / (wall x min(clients, cores)), t1 being
the same configuration's one-client wall time: 1.0 is perfect use of the
cores, 1/clients is full serialisation.
"""

from __future__ import annotations

from ..load import burst
from ..stats import median
from .base import Context, Result, expect_ok, rotated, verdict

ID = "P1"
TITLE = "CPU-bound route (documentation's loop), 1/2/4 concurrent clients"
TARGET = "ours @offload: efficiency >= 0.9 at clients = cores"

CONFIGURATIONS = [
    ("official inline", "official", "/bench/computation"),
    ("official + multiprocessing.Pool", "official_pool", "/bench/computation"),
    ("ours inline", "ours", "/bench/computation"),
    ("ours @offload", "ours", "/bench/computation-offload"),
]


def run(context: Context) -> Result:
    clients_counts = sorted({1, 2, 4, context.cores})
    walls: dict[tuple[str, int], list[float]] = {}
    for _name, server, path in CONFIGURATIONS:  # warm-up: imports, the Pool's first task
        burst(context.servers[server].port, f"{path}?outer=1", 1)
    for repetition in range(context.settings.cpu_repetitions):
        for clients in clients_counts:
            for name, server, path in rotated(CONFIGURATIONS, repetition + clients):
                wall, outcomes = burst(context.servers[server].port,
                                       f"{path}?outer={context.outer}", clients)
                for outcome in outcomes:
                    if outcome.reply is None:
                        raise RuntimeError(f"{name}: {outcome.error}")
                    expect_ok(outcome.reply.status, name, outcome.reply.body)
                walls.setdefault((name, clients), []).append(wall)

    result = Result(ID, TITLE, TARGET)
    for name, _, _ in CONFIGURATIONS:
        single = median(walls[(name, 1)])
        medians = {c: median(walls[(name, c)]) for c in clients_counts}
        efficiency = {c: c * single / (medians[c] * min(c, context.cores)) for c in clients_counts}
        result.data[name] = {
            "wall_median_s": {str(c): medians[c] for c in clients_counts},
            "efficiency": {str(c): efficiency[c] for c in clients_counts},
            "walls_s": {str(c): walls[(name, c)] for c in clients_counts},
        }
        figures = " / ".join(f"{medians[c]:.2f}" for c in clients_counts)
        effs = " / ".join(f"{efficiency[c]:.2f}" for c in clients_counts)
        result.rows.append((name, f"wall {figures} s; efficiency {effs}"))
    at_cores = result.data["ours @offload"]["efficiency"][str(context.cores)]
    result.verdict = verdict(at_cores >= 0.9)
    result.judged = f"ours @offload efficiency at {context.cores} clients: {at_cores:.2f}"
    result.data["clients"] = clients_counts
    result.data["outer"] = context.outer
    result.rows.insert(0, ("clients", " / ".join(str(c) for c in clients_counts)
                           + f" (loop outer count {context.outer}; "
                           f"{context.settings.cpu_repetitions} interleaved repetitions; "
                           f"ours: Pool.Workers = {context.cores}, the official plugin's Pool: 4 processes)"))
    return result
