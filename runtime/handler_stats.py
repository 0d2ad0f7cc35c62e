"""What each handler did since the plugin started: requests, errors, latency; and the last errors.

The session (runtime.plugin.session) owns one :class:`HandlerStats` and one
:class:`RecentErrors`. Every path a handler's call takes feeds them::

    inline, or offloaded through the master    runtime.registry.invoke wraps each bound run:
                                               HandlerCounter.record(seconds, failed)
    the fast path (fast_path.cpp, no GIL)      counted in C++ per key (Entry.key) under the
                                               idle set's lock; HandlerStats.absorb() adds the
                                               batch when the status or the metrics are read
    a handler's error (runtime.answers)        RecentErrors.add(...), where its id is made

Read only when someone asks (``GET /runtime/status``, ``/runtime/metrics``): nothing
here runs on its own. Latency goes into fixed buckets (:data:`BOUNDS`), so a counter
is a few ints whatever the traffic, and the quantiles are read from the buckets
(Prometheus's way, so both agree).
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

BOUNDS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
"""Upper bounds (seconds) of the latency buckets; one more bucket takes the rest (+Inf).
fast_path.cpp takes them from here (IdleSet's ``bounds``)."""

RECENT_ERRORS = 50
"""How many of the last errors :class:`RecentErrors` keeps."""


class HandlerCounter:
    """One handler's requests, errors and latency buckets.

    ``record`` is on every call's path, from several of Orthanc's HTTP threads at once:
    each thread counts into a list of its own (made at its first call), which only it
    writes, so no lock is taken and no count is lost; a reader adds the lists up. A
    reader may see the call being counted at that moment in some fields and not yet in
    others; the next read has it whole.
    """

    __slots__ = ("name", "kind", "key", "_local", "_slots", "_lock")

    def __init__(self, name: str, kind: str, key: int) -> None:
        self.name = name
        self.kind = kind
        self.key = key  # what the fast path counts this handler's answers under
        self._local = threading.local()
        # [requests, errors, seconds, bucket 0, ...]: one per thread that counted, and the
        # first for the batches of add() (under _lock)
        self._slots: list[list[Any]] = [_empty()]
        self._lock = threading.Lock()

    def record(self, seconds: float, failed: bool) -> None:
        self.recorder()(seconds, failed)

    def recorder(self) -> Callable[[float, bool], None]:
        """``record`` as a function with its lookups bound once: what the bound runs of
        runtime.registry.invoke call, on every call of the handler."""
        local, slots, new = self._local, self._slots, _empty
        bucket_of, bounds, first = bisect.bisect_left, BOUNDS, _FIRST_BUCKET

        def record(seconds: float, failed: bool) -> None:
            try:
                slot = local.slot
            except AttributeError:
                slot = local.slot = new()
                slots.append(slot)  # atomic: a reader sees it whole or not at all
            slot[first + bucket_of(bounds, seconds)] += 1
            slot[2] += seconds
            slot[1] += failed
            slot[0] += 1

        return record

    def add(self, requests: int, errors: int, seconds: float, buckets: list[int]) -> None:
        """A batch counted elsewhere (the fast path's), taken when the status is read."""
        with self._lock:
            batches = self._slots[0]
            batches[0] += requests
            batches[1] += errors
            batches[2] += seconds
            for at, count in enumerate(buckets):
                batches[_FIRST_BUCKET + at] += count

    def totals(self) -> list[Any]:
        """[requests, errors, seconds, bucket 0, ...], every thread's added up."""
        total = _empty()
        for slot in list(self._slots):
            for at, value in enumerate(slot):
                total[at] += value
        return total

    def snapshot(self) -> dict[str, Any]:
        total = self.totals()
        buckets = total[_FIRST_BUCKET:]
        return {
            "kind": self.kind,
            "requests": total[0],
            "errors": total[1],
            "seconds_total": total[2],
            "latency_ms": {q: quantile_ms(buckets, f) for q, f in
                           (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
            "buckets": buckets,
        }


_FIRST_BUCKET = 3


def _empty() -> list[Any]:
    return [0, 0, 0.0] + [0] * (len(BOUNDS) + 1)


def quantile_ms(buckets: list[int], fraction: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``fraction`` quantile; None without data.
    The last bucket (past the largest bound) answers the largest bound."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for at, count in enumerate(buckets):
        seen += count
        if seen >= rank and count:
            return BOUNDS[min(at, len(BOUNDS) - 1)] * 1000.0
    return BOUNDS[-1] * 1000.0


class HandlerStats:
    """The counters of one start of the plugin, one per handler name (see the module's
    docstring). ``counter`` is called when handlers are bound, never per call."""

    def __init__(self) -> None:
        self._by_name: dict[str, HandlerCounter] = {}
        self._by_key: list[HandlerCounter] = []
        self._lock = threading.Lock()
        self._sources: list[Any] = []  # what absorb() takes batches from (the fast path's set)

    def counter(self, name: str, kind: str) -> HandlerCounter:
        with self._lock:
            found = self._by_name.get(name)
            if found is None:
                found = self._by_name[name] = HandlerCounter(name, kind, len(self._by_key))
                self._by_key.append(found)
            return found

    def add_source(self, source: Any) -> None:
        """``source.take_handler_stats()`` answers ``[(key, requests, errors, seconds,
        buckets), ...]`` counted since its last call (fast_lane.NativeIdle)."""
        with self._lock:
            self._sources.append(source)

    def remove_source(self, source: Any) -> None:
        self.absorb()
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def absorb(self) -> None:
        with self._lock:
            sources = list(self._sources)
            by_key = list(self._by_key)
        for source in sources:
            for key, requests, errors, seconds, buckets in source.take_handler_stats():
                if 0 <= key < len(by_key):
                    by_key[key].add(requests, errors, seconds, buckets)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        self.absorb()
        with self._lock:
            counters = list(self._by_name.values())
        return {c.name: c.snapshot() for c in counters}


class RecentErrors:
    """The last :data:`RECENT_ERRORS` handler errors: id, handler, time, type and message
    (the traceback stays in Orthanc's log, under the same id)."""

    def __init__(self, size: int = RECENT_ERRORS) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=size)  # append is atomic
        self._count = itertools.count(1)
        self.total = 0

    def add(self, error_id: str, where: str, type_name: str, message: str) -> None:
        self.total = next(self._count)
        self._ring.append({
            "error_id": error_id,
            "handler": where.split(" (", 1)[0],
            "where": where,
            "time": time.time(),
            "type": type_name,
            "message": message[:500],
        })

    def list(self) -> list[dict[str, Any]]:
        """The newest first."""
        return list(reversed(self._ring))
