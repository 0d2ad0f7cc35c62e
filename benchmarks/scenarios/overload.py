"""P7: 200 concurrent clients on an offloaded 50 ms route, QueueLimit 64.

A separate Orthanc, our plugin with Pool.Workers = cores and QueueLimit 64,
and HttpThreadsCount 256: with Orthanc's default of 50 HTTP threads, no more
than 50 requests would ever reach the plugin, and the queue limit would never
be met. 200 threads, each on a connection opened beforehand, send one request
at once; rounds are repeated. Expected: only 200 and 503 answers, every 503
with Retry-After.
"""

from __future__ import annotations

from collections import Counter

from .. import servers
from ..load import burst
from ..stats import median, quantile
from .base import Context, Result, ms, verdict

ID = "P7"
TITLE = "overload: 200 clients at once on an offloaded 50 ms route, QueueLimit 64"
TARGET = "only 200 or 503 with Retry-After; p99 of served requests reported"
CLIENTS = 200
QUEUE_LIMIT = 64


def run(context: Context) -> Result:
    server = servers.ours(
        "overload", context.workdir / "overload", servers.SCRIPTS / "ours.py",
        {"PythonRuntime": {"Pool": {"Workers": context.cores, "QueueLimit": QUEUE_LIMIT}},
         "HttpThreadsCount": 256})
    server.start()
    statuses: Counter[str] = Counter()
    without_retry_after = 0
    served: list[float] = []
    rejected: list[float] = []
    walls: list[float] = []
    try:
        server.wait_ready()
        burst(server.port, "/bench/sleep?ms=50", 2)  # warm-up
        for _ in range(context.settings.overload_rounds):
            wall, outcomes = burst(server.port, "/bench/sleep?ms=50", CLIENTS)
            walls.append(wall)
            for outcome in outcomes:
                if outcome.reply is None:
                    statuses[f"error ({outcome.error.split(':')[0]})"] += 1
                    continue
                statuses[str(outcome.reply.status)] += 1
                if outcome.reply.status == 200:
                    served.append(outcome.reply.seconds)
                elif outcome.reply.status == 503:
                    rejected.append(outcome.reply.seconds)
                    if "retry-after" not in outcome.reply.headers:
                        without_retry_after += 1
    finally:
        server.stop()

    result = Result(ID, TITLE, TARGET)
    counts = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    result.data = {"statuses": dict(statuses), "503_without_retry_after": without_retry_after,
                   "served_median_s": median(served), "served_p99_s": quantile(served, 0.99),
                   "rejected_median_s": median(rejected), "wall_median_s": median(walls),
                   "rounds": context.settings.overload_rounds, "workers": context.cores}
    result.rows.append((f"ours @offload, {context.cores} workers, HttpThreadsCount 256",
                        f"{counts} over {context.settings.overload_rounds} round(s) of {CLIENTS}; "
                        f"served: median {ms(median(served))}, p99 {ms(quantile(served, 0.99))}; "
                        f"503 answered in median {ms(median(rejected))}"
                        f"{'' if not without_retry_after else f'; {without_retry_after} 503 without Retry-After'}"))
    only_expected = set(statuses) <= {"200", "503"}
    result.verdict = verdict(only_expected and without_retry_after == 0 and bool(served))
    result.judged = f"{counts}; p99 served {ms(quantile(served, 0.99))}"
    return result
