"""Counters of task outcomes and a window of recent latencies, for ``Pool.status()``.

Updated by the threads that run tasks, under the pool's lock, so a counter is
a plain int. Latency is what a caller of ``Pool.run`` sees: waiting for a
worker plus running the task, in milliseconds.
"""

from __future__ import annotations

import math
from collections import deque

LATENCY_WINDOW = 1024
"""How many recent task latencies the quantiles are computed over."""


class TaskStats:
    def __init__(self, window: int = LATENCY_WINDOW) -> None:
        self.done = 0
        self.failed = 0
        self.timed_out = 0
        self.crashed = 0
        self.recycled = 0
        self.rejected = 0
        self._latencies: deque[float] = deque(maxlen=window)

    def record_latency(self, seconds: float) -> None:
        self._latencies.append(seconds)

    def counters(self) -> dict[str, int]:
        return {
            "done": self.done,
            "failed": self.failed,
            "timed_out": self.timed_out,
            "crashed": self.crashed,
            "recycled": self.recycled,
            "rejected": self.rejected,
        }

    def latency_ms(self) -> dict[str, float | int]:
        ordered = sorted(self._latencies)
        return {
            "p50": _quantile(ordered, 0.50) * 1000.0,
            "p90": _quantile(ordered, 0.90) * 1000.0,
            "p99": _quantile(ordered, 0.99) * 1000.0,
            "count": len(ordered),
        }


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list; 0.0 when it is empty."""
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]
