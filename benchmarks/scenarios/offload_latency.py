"""P2: what @offload adds to a trivial route, one client on one keep-alive connection.

Requests alternate between the inline route and the offloaded one, in a
random order within each pair, so that both see the same machine; the added
latency is the difference of the medians. Beside each pair, the benchmark
times one round trip over a bare pipe between two Python processes: the floor
of any process hop on this machine, whatever the runtime does. The official
plugin's trivial route takes its turn in the same rotation: with one client
waiting for each answer, the ratio of the medians is the ratio of the rates
at one connection (issue 26: ours inline >= 1.1x official).
"""

from __future__ import annotations

import random

from ..load import Client
from ..pipe_echo import PipeEcho
from ..stats import median, quantile
from .base import Context, Result, expect_ok, us, verdict

ID = "P2"
TITLE = "trivial route latency, one client"
TARGET = ("offload adds <= 40 µs median (issue 13); @offload <= 1.2x a bare pipe round trip over "
          "inline (issue 26); ours inline >= 1.1x official inline at one connection (issue 26)")
ROUTES = {"ours inline": "/bench/trivial", "ours @offload": "/bench/trivial-offload",
          "ours @offload, FastPath false": "/bench/trivial-offload",
          "official inline": "/bench/trivial"}
SERVERS = {"ours @offload, FastPath false": "ours_python", "official inline": "official"}


def run(context: Context) -> Result:
    clients = {name: Client(context.servers[SERVERS.get(name, "ours")].port) for name in ROUTES}
    samples: dict[str, list[float]] = {name: [] for name in ROUTES}
    floor: list[float] = []
    names = list(ROUTES)
    with PipeEcho() as pipe:
        for _ in range(50):
            pipe.round_trip()
            for name in names:
                clients[name].get(ROUTES[name])
        order = random.Random(6)
        for _ in range(context.settings.latency_pairs):
            order.shuffle(names)
            for name in names:
                reply = clients[name].get(ROUTES[name])
                expect_ok(reply.status, name, reply.body)
                samples[name].append(reply.seconds)
            floor.append(pipe.round_trip())
    for client in clients.values():
        client.close()

    result = Result(ID, TITLE, TARGET)
    for name, values in samples.items():
        result.data[name] = {"median_s": median(values), "p99_s": quantile(values, 0.99),
                             "count": len(values)}
        result.rows.append((name, f"median {us(median(values))}, "
                                  f"p99 {us(quantile(values, 0.99))}"))
    added = median(samples["ours @offload"]) - median(samples["ours inline"])
    paired = median([b - a for a, b in zip(samples["ours inline"], samples["ours @offload"],
                                           strict=True)])
    result.data["added_median_s"] = added
    result.data["paired_difference_median_s"] = paired
    result.rows.append(("added by @offload", f"{us(added)} (difference of medians; "
                        f"median of paired differences {us(paired)}; "
                        f"{context.settings.latency_pairs} pairs)"))
    result.data["pipe_round_trip_median_s"] = median(floor)
    result.rows.append(("reference: bare pipe round trip", f"median {us(median(floor))}, "
                        f"p99 {us(quantile(floor, 0.99))} (two Python processes, "
                        "multiprocessing Pipe, 300 bytes each way)"))
    python_added = median(samples["ours @offload, FastPath false"]) - median(samples["ours inline"])
    result.data["added_python_path_median_s"] = python_added
    pipe_ratio = added / median(floor)
    result.data["added_to_pipe_round_trip"] = pipe_ratio
    result.rows.append(("added with FastPath false", f"{us(python_added)} (difference of medians)"))
    versus_official = median(samples["official inline"]) / median(samples["ours inline"])
    result.data["inline_rate_to_official_one_connection"] = versus_official
    result.rows.append(("ours inline / official inline, one connection",
                        f"{versus_official:.2f}x (the ratio of their median latencies)"))
    result.verdict = verdict(added <= 40e-6 and pipe_ratio <= 1.2 and versus_official >= 1.1)
    result.judged = (f"added {us(added)} = {pipe_ratio:.2f}x a bare pipe round trip "
                     f"(FastPath false: {us(python_added)}); ours inline {versus_official:.2f}x "
                     "official at one connection")
    return result
