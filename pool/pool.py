"""The pool: callers hand tasks to worker processes and serve their calls back.

There is no dispatcher thread. The thread that calls :meth:`Pool.run` takes
an idle worker, talks to it over the worker's own pipe until the task ends,
and gives the worker back::

    caller thread                         pool state (under one lock)
    -------------                         ---------------------------
    run(fn, args)
      checkout  -------------------------> idle workers (a stack)
        | none idle: wait in line -------> waiters (FIFO; nested calls go first)
        |   more than queue_limit waiting -> PoolFull
      send Task ============ pipe =========> worker
      wait [pipe, sentinel] until deadline
        <== Call(name, args) ==============  call_master(name, ...)
        master_functions[name](...)          (may itself run() a task: nested)
        ==> Reply(value) =================>
        <== Result / Failure ==============
      return worker ---------------------> to the first waiter, else idle;
                                           or to the supervisor to retire
                                           (recycled, timed out, crashed, temporary)

The supervisor thread (``pool.supervisor``) owns workers between tasks: it
starts them, watches idle ones, and retires and replaces the others. The pool
state is the single source of truth of who owns a worker: ``WorkerHandle.state``
changes only under the lock.

A master function that runs a task of its own while all workers are busy
(nesting) could wait forever for a worker held by its own caller; the pool
sees the nesting through a thread-local depth and starts a temporary worker
for it, retired after that one task.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextvars
import enum
import itertools
import logging
import math
import os
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pool import context
from pool.caller import Ending, run_task, serving_depth
from pool.errors import (
    PoolClosed,
    PoolError,
    PoolFull,
    TaskTimeout,
    WorkerCrashed,
    WorkerStartFailed,
    describe_exitcode,
)
from pool.handle import State, WorkerHandle
from pool.idle import IdleSet, IdleStack
from pool.messages import Task
from pool.shm import remove_stale_segments
from pool.stats import TaskStats
from pool.supervisor import Exit, Supervisor
from pool.worker import WorkerConfig

log = logging.getLogger(__name__)

CRASH_REAP_TIMEOUT = 5.0
"""Seconds a caller waits for a dead worker's exit code."""

RESTARTS_KEPT = 50
"""How many of the last worker replacements ``status()`` lists, with their reasons."""

_REASONS = {Ending.TIMEOUT: "timeout: the task overran its time", Ending.DEAD: "crashed",
            Ending.GONE: "found dead before a task", Ending.KILL: "unknown state after a task",
            Ending.RECYCLE: "recycled (MaxTasksPerWorker or MaxWorkerMemoryMB)"}
"""Why a worker that ended so is replaced (status()'s "restarts")."""


# How a worker leaves after a task that ended so (the others are stopped politely).
_EXITS = {Ending.TIMEOUT: Exit.TERM, Ending.DEAD: Exit.DEAD, Ending.GONE: Exit.DEAD,
          Ending.KILL: Exit.KILL}


class _Phase(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class Waiter:
    """A caller waiting in line for a worker; woken with a worker or an error."""

    __slots__ = ("event", "worker", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.worker: WorkerHandle | None = None
        self.error: BaseException | None = None


_live_pools: weakref.WeakSet[Pool] = weakref.WeakSet()

# Serials name the shared-memory segments, so they are unique in the process,
# not only in a pool.
_serials = itertools.count(1)


@atexit.register
def _shutdown_live_pools() -> None:
    for pool in list(_live_pools):
        pool.shutdown()


class Pool:
    """A managed pool of worker processes.

        >>> with Pool(workers=4, master_functions={"log": print}) as pool:
        ...     pool.run(math.factorial, (5000,))

    :param workers: how many workers to keep.
    :param start_method: ``"forkserver"`` (default) or ``"spawn"``; never fork.
    :param preload: modules the fork server imports, so a new worker starts in
        milliseconds (and that each spawned worker imports at start).
    :param initializer: run in each worker before its first task; picklable by
        reference. If it raises, :meth:`start` raises :class:`WorkerStartFailed`.
    :param master_functions: what workers may call with :func:`call_master`.
    :param task_timeout: seconds a task may run, unless ``run(timeout=)`` says.
    :param queue_limit: how many callers may wait for a worker before
        :class:`PoolFull`.
    :param max_tasks_per_worker: recycle a worker after this many tasks (0: never).
    :param max_worker_memory_mb: recycle a worker whose resident memory
        exceeds this after a task (0: never).
    :param shutdown_grace: seconds tasks in flight get at shutdown.
    :param executable: the Python that runs workers; default ``sys.executable``.
    :param name: names the pool's threads and processes.
    :param idle: where idle workers wait (``pool.idle``); default a stack of the pool's own.
        A shared set may lend them outside the pool (orthanc-runtime's fast path).
    """

    def __init__(
        self,
        *,
        workers: int,
        start_method: str = "forkserver",
        preload: Sequence[str] = (),
        initializer: Callable[[], None] | None = None,
        master_functions: Mapping[str, Callable[..., Any]] | None = None,
        task_timeout: float = 30.0,
        queue_limit: int = 256,
        max_tasks_per_worker: int = 0,
        max_worker_memory_mb: int = 0,
        shutdown_grace: float = 10.0,
        executable: str | None = None,
        name: str = "pool",
        idle: IdleSet | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if start_method not in context.START_METHODS:
            raise ValueError(f"start_method must be 'forkserver' or 'spawn', not {start_method!r}")
        if queue_limit < 0:
            raise ValueError(f"queue_limit must be 0 or more, not {queue_limit}")
        self.workers = workers
        self.start_method = start_method
        self.preload = tuple(preload)
        self.initializer = initializer
        self.master_functions: dict[str, Callable[..., Any]] = dict(master_functions or {})
        self.task_timeout = task_timeout
        self.queue_limit = queue_limit
        self.max_tasks_per_worker = max_tasks_per_worker
        self.max_worker_memory_mb = max_worker_memory_mb
        self.shutdown_grace = shutdown_grace
        self.executable = executable or sys.executable
        self.name = name

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # start-up and shutdown wait on it
        self._phase = _Phase.NEW
        self._idle: IdleSet = idle if idle is not None else IdleStack()
        self._waiters: deque[Waiter] = deque()
        self._workers: dict[int, WorkerHandle] = {}
        self._busy = 0
        self._stats = TaskStats()
        self._restarts: deque[dict[str, Any]] = deque(maxlen=RESTARTS_KEPT)
        self._restarted = 0
        self._task_ids = itertools.count(1)
        self._start_error: BaseException | None = None
        self._started = False  # start() has seen every worker ready once
        self._closed = threading.Event()
        self._close_by = math.inf  # time.monotonic() by which a shutdown ends the tasks left
        self._master_pid = os.getpid()
        self._ctx: Any = None
        self._supervisor: Supervisor | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._submitted = 0  # submitted, not yet in run()

    def __repr__(self) -> str:
        return f"<Pool {self.name!r} workers={self.workers} {self._phase.value}>"

    def __enter__(self) -> Pool:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- life cycle --

    def start(self) -> None:
        """Start all workers; return when each has run the initializer and said ready."""
        with self._lock:
            if self._phase is not _Phase.NEW:
                raise PoolError(f"{self!r} was already started")
            self._phase = _Phase.RUNNING
        try:
            if not os.access(self.executable, os.X_OK):
                # multiprocessing would notice only when its helpers fail to answer.
                raise WorkerStartFailed(None, None, f"{self.executable!r} is not an executable")
            remove_stale_segments()
            self._ctx = context.acquire(self.start_method, self.executable, self.preload)
            _live_pools.add(self)
            self._supervisor = Supervisor(self)
            self._supervisor.start()
            for _ in range(self.workers):
                self._supervisor.launch()
            with self._lock:
                self._changed.wait_for(
                    lambda: (
                        self._start_error is not None
                        or len(self._idle) + self._busy >= self.workers
                    )
                )
                if self._start_error is not None:
                    raise self._start_error
                self._started = True
        except BaseException:
            self.shutdown(grace=0)
            raise

    def shutdown(self, grace: float | None = None) -> None:
        """Refuse new tasks, give tasks in flight ``grace`` seconds, then end every process.

        ``grace`` may be ``math.inf``: tasks in flight then end by their own
        timeouts (a pool replaced by another drains so). Returns when no worker
        is left, nor the fork server, nor the resource tracker if the pools
        started it. Idempotent; a call during a shutdown may shorten its grace.
        """
        grace = self.shutdown_grace if grace is None else grace
        close_by = time.monotonic() + max(0.0, grace)
        with self._lock:
            phase = self._phase
            if phase is _Phase.NEW:
                self._phase = _Phase.CLOSED
                self._closed.set()
                return
            if phase is _Phase.CLOSING and close_by < self._close_by:
                self._close_by = close_by
                self._changed.notify_all()
            if phase is _Phase.RUNNING:
                self._phase = _Phase.CLOSING
                self._close_by = close_by
                while self._waiters:
                    self._fail(
                        self._waiters.popleft(),
                        PoolClosed(f"{self.name} shut down while waiting for a worker",
                                   may_have_run=False),
                    )
        if phase is not _Phase.RUNNING:
            self._closed.wait()
            return
        with self._lock:
            while self._busy or self._idle.leased():
                left = self._close_by - time.monotonic()
                if left <= 0:
                    break
                if self._idle.leased():  # a lease ends outside the lock's notice: look again soon
                    left = min(left, 0.05)
                self._changed.wait(None if left == math.inf else left)
        if self._supervisor is not None:
            self._supervisor.stop()
        if self._executor is not None:
            # Jobs not yet started run, find the pool closed, and fail with PoolClosed.
            self._executor.shutdown(wait=True)
        if self._ctx is not None:
            context.release()
        _live_pools.discard(self)
        with self._lock:
            self._phase = _Phase.CLOSED
        self._closed.set()

    # -- running tasks --

    def run(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` in a worker and return its result.

        Waits for an idle worker (first come, first served), then serves the
        task's calls back on this thread until it ends. Raises what ``fn``
        raised (its traceback as ``__cause__``), or :class:`TaskTimeout`,
        :class:`WorkerCrashed`, :class:`PoolFull`, :class:`PoolClosed`.
        """
        return self._run(fn, args, kwargs, timeout, serving_depth() > 0)

    def submit(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Like :meth:`run`, on a thread of the pool; raises :class:`PoolFull` at once when full."""
        nested = serving_depth() > 0
        with self._lock:
            self._check_running()
            backlog = self._submitted + len(self._waiters) - len(self._idle)
            if backlog + self._idle.waiting_outside() >= self.queue_limit and not nested:
                self._stats.rejected += 1
                raise PoolFull(self.queue_limit)
            self._submitted += 1
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.workers + self.queue_limit,
                    thread_name_prefix=f"{self.name}-submit",
                )
            executor = self._executor

        def job() -> Any:
            with self._lock:
                self._submitted -= 1
            return self._run(fn, args, kwargs, timeout, nested)

        # The caller's context variables hold on the pool's thread, as asyncio's run_in_executor
        # does not but a caller expects: what it set for the task (a request's id, say) is set
        # while the task's calls back are served and its future's callbacks run.
        caller = contextvars.copy_context()
        try:
            return executor.submit(caller.run, job)
        except RuntimeError as exc:  # the executor was shut down meanwhile
            with self._lock:
                self._submitted -= 1
            raise PoolClosed(f"{self.name} is shut down", may_have_run=False) from exc

    def _run(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None,
        timeout: float | None,
        nested: bool,
    ) -> Any:
        started = time.monotonic()
        seconds = self.task_timeout if timeout is None else float(timeout)
        task = Task(next(self._task_ids), fn, tuple(args), dict(kwargs) if kwargs else {})
        while True:
            handle = self._checkout(nested)
            try:
                ending, ok, payload, rss = run_task(handle, task, seconds, self.master_functions)
            except BaseException:
                self._checkin(handle, Ending.KILL, 0.0)
                raise
            if ending is not Ending.GONE:
                break
            # It died idle, before the supervisor noticed: the task never left.
            self._checkin(handle, Ending.GONE, 0.0)
        if ending is Ending.IDLE:
            ending = self._recycle_or_keep(handle, rss)
        elif ending is Ending.DEAD:
            exitcode = handle.join(CRASH_REAP_TIMEOUT)
            if self._phase is not _Phase.RUNNING:
                payload = PoolClosed(f"{self.name} shut down while the task was running")
            else:
                payload = WorkerCrashed(handle.pid or 0, exitcode)
        self._checkin(handle, ending, time.monotonic() - started, ok)
        if ok:
            return payload
        raise payload

    def _recycle_or_keep(self, handle: WorkerHandle, rss: int) -> Ending:
        handle.tasks_done += 1
        if self.max_tasks_per_worker and handle.tasks_done >= self.max_tasks_per_worker:
            return Ending.RECYCLE
        if self.max_worker_memory_mb and rss > self.max_worker_memory_mb * 1024 * 1024:
            return Ending.RECYCLE
        return Ending.IDLE

    # -- workers lent outside the pool (pool.idle) --

    def handle_of(self, serial: int) -> WorkerHandle:
        with self._lock:
            return self._workers[serial]

    def _adopt(self, handle: WorkerHandle) -> None:
        with self._lock:
            handle.state = State.BUSY
            self._busy += 1

    def lease_ended(self, handle: WorkerHandle) -> None:
        """A worker lent by the idle set answered, and comes back through the pool (callers
        of the pool wait for one, or the pool closes)."""
        self._adopt(handle)
        self._checkin(handle, Ending.UNUSED, 0.0)  # its answer is counted by the idle set

    def lease_failed(self, handle: WorkerHandle, how: str, seconds: float) -> BaseException:
        """A worker lent by the idle set died (``how`` "dead"), overran ``seconds``
        ("timeout"), or is in an unknown state after ``seconds`` ("broken": counted failed):
        the pool replaces it. Returns the error its caller answers."""
        self._adopt(handle)
        error: BaseException
        if how == "timeout":
            error = TaskTimeout(seconds, handle.pid)
            ending = Ending.TIMEOUT
        elif how == "dead":
            exitcode = handle.join(CRASH_REAP_TIMEOUT)
            ending = Ending.DEAD
            if self._phase is not _Phase.RUNNING:
                error = PoolClosed(f"{self.name} shut down while the task was running")
            else:
                error = WorkerCrashed(handle.pid or 0, exitcode)
        else:
            ending = Ending.KILL
            error = PoolError(f"worker {handle.pid} is in an unknown state after a fast request")
        self._checkin(handle, ending, seconds)
        return error

    # -- who holds which worker --

    def _check_running(self) -> None:
        if self._phase is not _Phase.RUNNING:
            if self._phase is _Phase.NEW:
                raise PoolError(f"{self!r} is not started; call start() first")
            raise PoolClosed(f"{self.name} is shut down", may_have_run=False)

    def _checkout(self, nested: bool) -> WorkerHandle:
        with self._lock:
            self._check_running()
            handle = self._idle.take(len(self._waiters) + 1)
            if handle is not None:
                handle.state = State.BUSY
                self._busy += 1
                return handle
            waiter = Waiter()
            if nested:
                # Our caller's worker may be the one we would wait for: go
                # first in line, and bring a worker of our own.
                self._waiters.appendleft(waiter)
                assert self._supervisor is not None
                self._supervisor.launch(temporary=True, for_waiter=waiter)
            elif len(self._waiters) + self._idle.waiting_outside() >= self.queue_limit:
                self._stats.rejected += 1
                self._idle.set_waiting(len(self._waiters))
                raise PoolFull(self.queue_limit)
            else:
                self._waiters.append(waiter)
        try:
            waiter.event.wait()
        except BaseException:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    self._idle.set_waiting(len(self._waiters))
            if waiter.worker is not None:
                self._checkin(waiter.worker, Ending.UNUSED, 0.0)
            raise
        if waiter.error is not None:
            raise waiter.error
        assert waiter.worker is not None
        return waiter.worker

    def _hand_over(self, handle: WorkerHandle, waiter: Waiter) -> None:
        """Give a worker to a waiting caller (under the lock)."""
        handle.state = State.BUSY
        self._busy += 1
        waiter.worker = handle
        self._idle.set_waiting(len(self._waiters))
        waiter.event.set()

    def _checkin(
        self, handle: WorkerHandle, ending: Ending, latency: float, ok: bool = False
    ) -> None:
        with self._lock:
            self._busy -= 1
            self._count(ending, latency, ok)
            if (
                (ending is Ending.IDLE or ending is Ending.UNUSED)
                and not handle.temporary
                and self._phase is _Phase.RUNNING
            ):
                if self._waiters:
                    self._hand_over(handle, self._waiters.popleft())
                else:
                    handle.state = State.IDLE
                    self._idle.append(handle)
                return
            handle.state = State.RETIRING
            replace = not handle.temporary and self._phase is _Phase.RUNNING
            if replace:
                self._note_restart(handle, _REASONS.get(ending, ending.value))
            if self._phase is not _Phase.RUNNING:
                self._changed.notify_all()
        assert self._supervisor is not None
        how = _EXITS.get(ending, Exit.STOP)
        if how is Exit.TERM:
            handle.signal(signal.SIGTERM)
        self._supervisor.retire(handle, how, replace)

    def _counters(self) -> dict[str, int]:
        counters = self._stats.counters()
        done, failed = self._idle.answered()  # answered outside the pool (pool.idle)
        counters["done"] += done
        counters["failed"] += failed
        return counters

    def _count(self, ending: Ending, latency: float, ok: bool) -> None:
        stats = self._stats
        if ending is Ending.UNUSED or ending is Ending.GONE:
            return
        if ending is Ending.TIMEOUT:
            stats.timed_out += 1
            return
        if ending is Ending.DEAD:
            stats.crashed += 1
            return
        if ending is Ending.RECYCLE:
            stats.recycled += 1
        if ok:
            stats.done += 1
        else:
            stats.failed += 1
        stats.record_latency(latency)

    # -- for the supervisor (pool.supervisor) --

    def _new_handle(self, temporary: bool) -> WorkerHandle:
        handle = WorkerHandle(next(_serials), self._master_pid, temporary)
        with self._lock:
            self._workers[handle.serial] = handle
        return handle

    def _launch(self, handle: WorkerHandle) -> None:
        config = WorkerConfig(
            master_pid=self._master_pid,
            serial=handle.serial,
            preload=self.preload,
            initializer=self.initializer,
            measure_rss=self.max_worker_memory_mb > 0,
        )
        kind = "temp" if handle.temporary else "worker"
        handle.launch(self._ctx, config, f"{self.name}-{kind}-{handle.serial}")

    def _worker_ready(self, handle: WorkerHandle, for_waiter: Waiter | None) -> bool:
        """A started worker said Ready: give it work, or say False to retire it."""
        with self._lock:
            if self._phase is not _Phase.RUNNING:
                return False
            if handle.temporary:
                if for_waiter is not None and for_waiter in self._waiters:
                    self._waiters.remove(for_waiter)
                    self._hand_over(handle, for_waiter)
                elif self._waiters:
                    self._hand_over(handle, self._waiters.popleft())
                else:
                    return False
            elif self._waiters:
                self._hand_over(handle, self._waiters.popleft())
            else:
                handle.state = State.IDLE
                self._idle.append(handle)
            self._changed.notify_all()
            return True

    def _start_failed(
        self, handle: WorkerHandle, error: BaseException, for_waiter: Waiter | None
    ) -> bool:
        """A worker failed to start; say whether to try again."""
        with self._lock:
            self._workers.pop(handle.serial, None)
            if self._phase is not _Phase.RUNNING:
                return False
            if not self._started:
                self._start_error = self._start_error or error
                self._changed.notify_all()
                return False
            if for_waiter is not None and for_waiter in self._waiters:
                self._waiters.remove(for_waiter)
                self._fail(for_waiter, error)
            elif not any(h.state is not State.RETIRING for h in self._workers.values()):
                # No worker is left to serve whoever waits: tell them now.
                while self._waiters:
                    self._fail(self._waiters.popleft(), error)
            return not handle.temporary

    def _fail(self, waiter: Waiter, error: BaseException) -> None:
        waiter.error = error
        self._idle.set_waiting(len(self._waiters))
        waiter.event.set()

    def _note_restart(self, handle: WorkerHandle, reason: str) -> None:
        """A worker is replaced (under the lock): kept for status()'s "restarts"."""
        self._restarted += 1
        self._restarts.append({"time": time.time(), "pid": handle.pid, "serial": handle.serial,
                               "reason": reason, "exitcode": handle.exitcode})

    def _idle_died(self, handle: WorkerHandle, exitcode: int | None) -> None:
        """The supervisor saw an idle worker die; it replaces it."""
        if handle.temporary:
            return
        with self._lock:
            if self._phase is _Phase.RUNNING:
                self._note_restart(handle, f"died while idle: {describe_exitcode(exitcode)}")

    def _take_dead_idle(self, handle: WorkerHandle) -> bool:
        with self._lock:
            if handle.state is not State.IDLE:
                return False  # a caller took it meanwhile and will see the death
            if not self._idle.discard(handle):
                return False  # lent outside the pool meanwhile: its lease will see the death
            handle.state = State.RETIRING
            return True

    def _mark_retiring(self, handle: WorkerHandle) -> None:
        with self._lock:  # every change of a worker's state happens under the lock
            handle.state = State.RETIRING

    def _worker_gone(self, handle: WorkerHandle) -> None:
        with self._lock:
            self._workers.pop(handle.serial, None)
            self._changed.notify_all()

    def _idle_snapshot(self) -> list[WorkerHandle]:
        with self._lock:
            return self._idle.handles()

    def _busy_snapshot(self) -> list[WorkerHandle]:
        """The workers running a task: the pool's, and those a shared idle set lent outside it
        (idle to the pool, but not in the set), which a shutdown must end as well."""
        with self._lock:
            idle = {id(handle) for handle in self._idle.handles()}
            return [h for h in self._workers.values()
                    if h.state is State.BUSY or (h.state is State.IDLE and id(h) not in idle)]

    def _drain_idle(self) -> list[WorkerHandle]:
        with self._lock:
            idle = self._idle.drain()
            for handle in idle:
                handle.state = State.RETIRING
            return idle

    def _all_handles(self) -> list[WorkerHandle]:
        with self._lock:
            return list(self._workers.values())

    # -- status --

    def status(self) -> dict[str, Any]:
        """Workers by state, queue depth, task counters and recent latency quantiles."""
        with self._lock:
            for seconds in self._idle.take_latencies():
                self._stats.record_latency(seconds)
            for serial, count in self._idle.take_tasks_by_worker().items():
                found = self._workers.get(serial)
                if found is not None:
                    found.tasks_lent += count
            handles = list(self._workers.values())
            leased_idle = {id(h) for h in self._idle.handles()}
            idle = sum(1 for h in handles if h.state is State.IDLE)
            busy = sum(1 for h in handles if h.state is State.BUSY)
            starting = sum(1 for h in handles if h.state is State.STARTING)
            lent = min(idle, self._idle.leased())  # idle to the pool, busy outside it
            idle, busy = idle - lent, busy + lent
            pids = sorted(
                h.pid for h in handles if h.pid is not None and h.state in (State.IDLE, State.BUSY)
            )
            return {
                "workers": {
                    "idle": idle,
                    "busy": busy,
                    "starting": starting,
                    "total": idle + busy + starting,
                    "pids": pids,
                    # each worker; "busy" also when lent outside the pool (pool.idle)
                    "list": [
                        {"serial": h.serial, "pid": h.pid,
                         "state": "busy" if h.state is State.IDLE and id(h) not in leased_idle
                         else h.state.value,
                         "tasks": h.tasks_done + h.tasks_lent, "temporary": h.temporary,
                         "started_at": h.started_at}
                        for h in sorted(handles, key=lambda h: h.serial)
                    ],
                },
                "restarts": {
                    "total": self._restarted,
                    "recent": [dict(r, exit=describe_exitcode(r["exitcode"])
                                    if r["exitcode"] is not None else None)
                               for r in reversed(self._restarts)],
                },
                "queue": len(self._waiters),
                "tasks": self._counters(),
                "latency_ms": self._stats.latency_ms(),
                "size": self.workers,
            }
