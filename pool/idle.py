"""Where a pool keeps its idle workers: a Python stack, or a set it shares with others.

The pool takes and gives back workers under its lock. An :class:`IdleSet`
other than :class:`IdleStack` may lend idle workers to callers outside the pool
(orthanc-runtime's fast path leases them from C++, without the GIL); the pool
then learns of a lease only when it ends through it::

    pool (under its lock)                         IdleSet                 outside caller
    append(handle) ------------------------------> idle
    take(waiting) <------------------------------- idle, else `waiting`   lease()  (not here)
                                                   callers are told       give back, or
                                                   to the set             Pool.lease_ended(h)
    discard(handle): False if it is leased now                            Pool.lease_failed(h, e)

``waiting_outside()`` counts the outside callers waiting for a worker, so that
the pool's queue limit holds for both lines together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pool.handle import WorkerHandle


class IdleSet(Protocol):
    """The idle workers of a pool (see the module docstring)."""

    def append(self, handle: WorkerHandle) -> None: ...

    def take(self, waiting: int) -> WorkerHandle | None:
        """An idle worker, or None; then ``waiting`` callers of the pool wait for one."""
        ...

    def set_waiting(self, waiting: int) -> None: ...

    def discard(self, handle: WorkerHandle) -> bool:
        """Removes ``handle``; False if it is not idle here (leased meanwhile)."""
        ...

    def handles(self) -> list[WorkerHandle]: ...

    def drain(self) -> list[WorkerHandle]:
        """Every idle worker, removed; the set lends no more."""
        ...

    def waiting_outside(self) -> int: ...

    def leased(self) -> int:
        """Workers lent outside the pool right now."""
        ...

    def answered(self) -> tuple[int, int]:
        """Tasks answered outside the pool so far, (done, failed): for the pool's counters."""
        ...

    def take_latencies(self) -> list[float]:
        """The latencies (seconds) of the tasks answered outside the pool since the last
        call, for the pool's window."""
        ...

    def take_tasks_by_worker(self) -> dict[int, int]:
        """Tasks answered outside the pool since the last call, by worker serial: for the
        pool's per-worker counts."""
        ...

    def __len__(self) -> int: ...


class IdleStack:
    """The pool's own idle workers, last in first out (the warmest first)."""

    def __init__(self) -> None:
        self._stack: list[WorkerHandle] = []

    def append(self, handle: WorkerHandle) -> None:
        self._stack.append(handle)

    def take(self, waiting: int) -> WorkerHandle | None:
        return self._stack.pop() if self._stack else None

    def set_waiting(self, waiting: int) -> None:
        pass

    def discard(self, handle: WorkerHandle) -> bool:
        try:
            self._stack.remove(handle)
        except ValueError:
            return False
        return True

    def handles(self) -> list[WorkerHandle]:
        return list(self._stack)

    def drain(self) -> list[WorkerHandle]:
        drained, self._stack = self._stack, []
        return drained

    def waiting_outside(self) -> int:
        return 0

    def leased(self) -> int:
        return 0

    def answered(self) -> tuple[int, int]:
        return 0, 0

    def take_latencies(self) -> list[float]:
        return []

    def take_tasks_by_worker(self) -> dict[int, int]:
        return {}

    def __len__(self) -> int:
        return len(self._stack)

    def __iter__(self) -> Iterator[WorkerHandle]:
        return iter(list(self._stack))
