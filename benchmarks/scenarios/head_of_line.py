"""P5: a trivial route's latency while another handler waits 1 s inside an SDK call.

The waiting handler asks Orthanc for ``/peers/slow/system``: Orthanc's HTTP
client then waits for the benchmark's slow peer. A background thread keeps
one such request in flight for the whole loaded phase while one client times
the trivial route, sending a request only while the peer holds a call (so
that the short gaps between two slow calls are not sampled). Idle phases,
without it, alternate with loaded ones and between the two plugins. The
figure is each plugin's loaded median over its own idle median.
"""

from __future__ import annotations

import threading
import time

from ..load import Client
from ..stats import median, quantile, ratio
from .base import Context, Result, expect_ok, ms, rotated, us, verdict

ID = "P5"
TITLE = "head-of-line blocking: trivial route while a handler waits 1 s in an SDK call"
TARGET = "ours <= 2x its idle latency"
PLUGINS = [("official", "official"), ("ours", "ours")]


class SlowCalls:
    """Keeps one request of ``/bench/slow-peer`` in flight until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.done = 0
        self.failure = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-calls", daemon=True)

    def _run(self) -> None:
        client = Client(self.port)
        while not self._stop.is_set():
            reply = client.get("/bench/slow-peer")
            if reply.status != 200:
                self.failure = f"/bench/slow-peer answered {reply.status}: {reply.body[:200]!r}"
                return
            self.done += 1
        client.close()

    def __enter__(self) -> SlowCalls:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(context: Context) -> Result:
    idle: dict[str, list[float]] = {name: [] for name, _ in PLUGINS}
    loaded: dict[str, list[float]] = {name: [] for name, _ in PLUGINS}
    slow_calls: dict[str, int] = {name: 0 for name, _ in PLUGINS}
    settings = context.settings
    for round_ in range(settings.hol_rounds):
        for name, server in rotated(PLUGINS, round_):
            client = Client(context.servers[server].port)
            for _ in range(10):
                client.get("/bench/trivial")
            for _ in range(settings.hol_idle_requests):
                reply = client.get("/bench/trivial")
                expect_ok(reply.status, name, reply.body)
                idle[name].append(reply.seconds)
            context.peer.arrived.clear()
            with SlowCalls(context.servers[server].port) as slow:
                if not context.peer.arrived.wait(10):
                    raise RuntimeError(f"{name}: the slow peer got no request")
                end = time.monotonic() + settings.hol_loaded_seconds
                while time.monotonic() < end:
                    if not context.peer.busy():
                        time.sleep(0.0005)
                        continue
                    reply = client.get("/bench/trivial")
                    expect_ok(reply.status, name, reply.body)
                    loaded[name].append(reply.seconds)
            if slow.failure:
                raise RuntimeError(f"{name}: {slow.failure}")
            slow_calls[name] += slow.done
            client.close()

    result = Result(ID, TITLE, TARGET)
    for name, _ in PLUGINS:
        factor = ratio(median(loaded[name]), median(idle[name]))
        result.data[name] = {"idle_median_s": median(idle[name]),
                             "loaded_median_s": median(loaded[name]),
                             "loaded_p99_s": quantile(loaded[name], 0.99),
                             "loaded_count": len(loaded[name]), "ratio": factor,
                             "slow_calls": slow_calls[name]}
        result.rows.append((name, f"{factor:.1f}x idle: idle median {us(median(idle[name]))}, "
                                  f"loaded median {ms(median(loaded[name]))} "
                                  f"(p99 {ms(quantile(loaded[name], 0.99))}, "
                                  f"{len(loaded[name])} requests)"))
    ours = result.data["ours"]["ratio"]
    result.verdict = verdict(ours <= 2.0)
    result.judged = f"ours {ours:.2f}x idle (official {result.data['official']['ratio']:.0f}x)"
    return result
