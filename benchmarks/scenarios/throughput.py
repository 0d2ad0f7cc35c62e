"""P3: trivial route throughput with 8 concurrent keep-alive clients.

One process per client (with threads, the benchmark's own GIL would cap the
rate); each client sends requests back to back for a fixed time. Rounds
rotate the configurations; the figure is the median rate over rounds. Beside
it, the CPU time the server (Orthanc and its workers) spent per request: on a
machine whose cores the clients share, it is what the rate is made of.
"""

from __future__ import annotations

from ..load import ClientProcesses
from ..stats import median, quantile, ratio
from .base import Context, Result, ms, rotated, us, verdict

ID = "P3"
TITLE = "trivial route throughput, 8 keep-alive clients (one process each)"
TARGET = "ours inline >= 1.0x official inline"
CLIENTS = 8
CONFIGURATIONS = [
    ("official inline", "official", "/bench/trivial"),
    ("ours inline", "ours", "/bench/trivial"),
    ("ours @offload", "ours", "/bench/trivial-offload"),
]


def run(context: Context) -> Result:
    rates: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGURATIONS}
    latencies: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGURATIONS}
    errors: dict[str, int] = {name: 0 for name, _, _ in CONFIGURATIONS}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGURATIONS}
    seconds = context.settings.throughput_seconds
    with ClientProcesses(CLIENTS) as clients:
        for _name, server, path in CONFIGURATIONS:  # warm-up, and every client process started
            clients.closed_loop(context.servers[server].port, path, 0.2, lead=1.0)
        for round_ in range(context.settings.throughput_rounds):
            for name, server, path in rotated(CONFIGURATIONS, round_):
                before = context.servers[server].cpu_seconds()
                loops = clients.closed_loop(context.servers[server].port, path, seconds)
                used = context.servers[server].cpu_seconds() - before
                count = sum(loop.requests for loop in loops)
                rates[name].append(count / seconds)
                cpu[name].append(used / max(1, count))
                errors[name] += sum(loop.errors for loop in loops)
                for loop in loops:
                    latencies[name].extend(loop.latencies)

    result = Result(ID, TITLE, TARGET)
    official = median(rates["official inline"])
    for name, _, _ in CONFIGURATIONS:
        rate = median(rates[name])
        result.data[name] = {"requests_per_s": rate, "rounds": rates[name],
                             "latency_median_s": median(latencies[name]),
                             "latency_p99_s": quantile(latencies[name], 0.99),
                             "errors": errors[name], "ratio_to_official": ratio(rate, official),
                             "server_cpu_per_request_s": median(cpu[name])}
        result.rows.append((name, f"{rate:.0f} req/s ({ratio(rate, official):.2f}x official "
                                  f"inline); latency median {ms(median(latencies[name]))}, "
                                  f"p99 {ms(quantile(latencies[name], 0.99))}; server CPU "
                                  f"{us(median(cpu[name]))} a request"
                                  + (f"; {errors[name]} errors" if errors[name] else "")))
    ours_ratio = result.data["ours inline"]["ratio_to_official"]
    result.verdict = verdict(ours_ratio >= 1.0 and not any(errors.values()))
    result.judged = f"ours inline / official inline: {ours_ratio:.2f}x"
    return result
