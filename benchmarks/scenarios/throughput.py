"""P3: trivial route throughput with 8 keep-alive connections, driven by ``wrk``.

wrk (a C event loop) costs the machine little per request, so the rate is
the server's, not the client's. Beside each route, Orthanc's own ``GET /system``
on the same server: the ceiling of this machine for an answer of Orthanc's
HTTP server that no plugin handles. Rounds rotate the configurations; the
figure is the median rate over rounds. The CPU time the server spent per
answer is read from Orthanc's process (the master) and its children (the
workers) before and after each run: on a machine whose cores the client
shares, it is what the rate is made of. The two inline routes run with one
connection too (issue 26: ours inline >= 1.1x official at one connection), beside
Orthanc's own ``GET /tools/now`` on our server: a route of Orthanc's C++ that reads no
database, what one connection reaches when no Python runs at all (the ceiling of
that target).
"""

from __future__ import annotations

from ..stats import ratio
from ..workload import Runs, measure
from .base import Context, Result, ms, rotated, us, verdict

ID = "P3"
TITLE = "trivial route throughput, 8 keep-alive connections (inline also 1) (wrk)"
TARGET = ("ours inline >= 1.0x official inline (issue 26: >= 1.1x at 1 connection, >= 1.3x at "
          "8, >= 0.6x Orthanc's /system); ours @offload >= 0.6x ours inline; server CPU per "
          "offloaded request <= 2x inline")
CONNECTIONS = 8
CONFIGURATIONS = [  # name, server, path, connections
    ("official /system", "official", "/system", CONNECTIONS),
    ("official inline", "official", "/bench/trivial", CONNECTIONS),
    ("ours /system", "ours", "/system", CONNECTIONS),
    ("ours inline", "ours", "/bench/trivial", CONNECTIONS),
    ("ours @offload", "ours", "/bench/trivial-offload", CONNECTIONS),
    ("ours @offload, FastPath false", "ours_python", "/bench/trivial-offload", CONNECTIONS),
    ("official inline, 1 connection", "official", "/bench/trivial", 1),
    ("ours inline, 1 connection", "ours", "/bench/trivial", 1),
    ("Orthanc's /tools/now, 1 connection", "ours", "/tools/now", 1),
]


def run(context: Context) -> Result:
    runs = {name: Runs() for name, *_ in CONFIGURATIONS}
    seconds = max(1.0, context.settings.throughput_seconds)
    for _name, server, path, connections in CONFIGURATIONS:  # warm-up: connections, workers, caches
        measure(context.servers[server], path, connections, 1.0, Runs())
    for round_ in range(context.settings.throughput_rounds):
        for name, server, path, connections in rotated(CONFIGURATIONS, round_):
            measure(context.servers[server], path, connections, seconds, runs[name])

    result = Result(ID, TITLE, TARGET)
    official = runs["official inline"]
    for name, *_ in CONFIGURATIONS:
        figures = runs[name].figures(runs["official inline, 1 connection"] if name.endswith(
            "1 connection") else official)
        cpu = figures["master_cpu_s"] + figures["worker_cpu_s"]
        figures["server_cpu_per_request_s"] = cpu
        result.data[name] = figures
        result.rows.append((name, f"{figures['per_s']:.0f} req/s "
                                  f"({figures['ratio_to_official']:.2f}x official inline); "
                                  f"latency median {ms(figures['latency_median_s'])}; server CPU "
                                  f"{us(cpu)} a request (workers {us(figures['worker_cpu_s'])})"
                                  + (f"; {figures['failed']} failed" if figures["failed"] else "")))
    inline, offloaded = result.data["ours inline"], result.data["ours @offload"]
    ours_ratio = inline["ratio_to_official"]
    offload_ratio = ratio(offloaded["per_s"], inline["per_s"])
    cpu_ratio = ratio(offloaded["server_cpu_per_request_s"], inline["server_cpu_per_request_s"])
    ceiling = ratio(inline["per_s"], result.data["ours /system"]["per_s"])
    result.data["offloaded_to_inline"] = offload_ratio
    result.data["python_path_to_inline"] = ratio(
        result.data["ours @offload, FastPath false"]["per_s"], inline["per_s"])
    result.data["offloaded_cpu_to_inline"] = cpu_ratio
    result.data["inline_to_system"] = ceiling
    one = result.data["ours inline, 1 connection"]["ratio_to_official"]
    result.data["inline_to_official_one_connection"] = one
    no_python = result.data["Orthanc's /tools/now, 1 connection"]["ratio_to_official"]
    result.data["no_python_to_official_one_connection"] = no_python
    failed = any(r.failed for r in runs.values())
    result.verdict = verdict(ours_ratio >= 1.3 and one >= 1.1 and ceiling >= 0.6
                             and offload_ratio >= 0.6 and cpu_ratio <= 2.0 and not failed)
    result.judged = (f"ours inline / official inline: {ours_ratio:.2f}x (1 connection: {one:.2f}x, "
                     f"Orthanc's /tools/now without Python: {no_python:.2f}x); "
                     f"@offload / inline: "
                     f"{offload_ratio:.2f}x; CPU a request, @offload / inline: {cpu_ratio:.2f}x; "
                     f"inline / /system: {ceiling:.2f}x; FastPath false @offload / inline: "
                     f"{result.data['python_path_to_inline']:.2f}x")
    return result
