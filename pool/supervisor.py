"""The supervisor: the pool's one background thread, off the hot path.

It owns every worker that is not running a task for a caller. It starts
workers (every one of them, so that under spawn a worker's parent thread lives
as long as the pool, which PR_SET_PDEATHSIG needs), notices idle workers that
die, and retires workers. Its loop waits on one list of file descriptors::

    wake pipe          <- Pool: Launch and Retire requests
    starting workers   <- Ready or StartFailed on the pipe, or death on the sentinel
    idle workers       <- death on the sentinel (an idle worker says nothing)
    retiring workers   <- exit on the sentinel; SIGKILL when the deadline passes

and each turn takes the same steps: take requests, (drain, when the pool
shuts down), launch the workers owed, read the starting workers, reap idle
workers that died, reap retiring workers. Draining stops idle workers, kills
the others, and the loop ends when no worker is left.

Idle workers are watched with a short timeout: the list of idle workers
changes with every task, and waking this thread for each would put a
system call on the hot path.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Any, NamedTuple, Protocol

from pool.errors import WorkerStartFailed
from pool.handle import WorkerHandle
from pool.messages import Ready, StartFailed, Stop

log = logging.getLogger(__name__)

IDLE_POLL = 0.25
"""Seconds between looks at the idle workers' sentinels."""
START_TIMEOUT = 60.0
"""Seconds a new worker has to import, run the initializer and say Ready."""
STOP_GRACE = 2.0
"""Seconds a worker asked to Stop has to exit before it is killed."""
TERM_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL for a worker whose task timed out."""
DRAIN_LIMIT = 3.0
"""Seconds shutdown waits for callers to hand back the workers it killed.

A killed worker's caller notices at once, unless it is inside a master
function that does not return; its worker is released without it. This
counts in the few seconds a shutdown may take past its grace."""
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Back-off between attempts to replace a worker when starting one fails."""


class Supervised(Protocol):
    """What the supervisor asks of its pool (pool.pool.Pool): the pool owns its workers'
    bookkeeping under its lock; the supervisor only starts, watches and ends processes.

    A waiter (``for_waiter``) is the pool's own object, passed back to it untouched."""

    name: str

    def _new_handle(self, temporary: bool) -> WorkerHandle: ...
    def _launch(self, handle: WorkerHandle) -> None: ...
    def _worker_ready(self, handle: WorkerHandle, for_waiter: Any) -> bool: ...
    def _start_failed(self, handle: WorkerHandle, error: BaseException, for_waiter: Any) -> bool: ...
    def _take_dead_idle(self, handle: WorkerHandle) -> bool: ...
    def _idle_died(self, handle: WorkerHandle, exitcode: int | None) -> None: ...
    def _mark_retiring(self, handle: WorkerHandle) -> None: ...
    def _worker_gone(self, handle: WorkerHandle) -> None: ...
    def _idle_snapshot(self) -> list[WorkerHandle]: ...
    def _busy_snapshot(self) -> list[WorkerHandle]: ...
    def _drain_idle(self) -> list[WorkerHandle]: ...
    def _all_handles(self) -> list[WorkerHandle]: ...


class Exit(enum.Enum):
    """How a worker leaves the pool."""

    STOP = "stop"  # asked to exit; SIGKILL after STOP_GRACE
    TERM = "term"  # has had SIGTERM; SIGKILL after TERM_GRACE
    KILL = "kill"  # SIGKILL now
    DEAD = "dead"  # already dead: only reaped


class Retire(NamedTuple):
    handle: WorkerHandle
    how: Exit
    replace: bool


class Launch(NamedTuple):
    temporary: bool
    for_waiter: Any


class _Starting(NamedTuple):
    for_waiter: Any
    deadline: float


class Supervisor:
    def __init__(self, pool: Supervised) -> None:
        self._pool = pool
        self._requests: deque[Launch | Retire] = deque()
        self._wake_r, self._wake_w = os.pipe()
        self._wake_lock = threading.Lock()  # no wake-up may hit the pipe once it is closed
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._starting: dict[WorkerHandle, _Starting] = {}
        self._retiring: dict[WorkerHandle, float] = {}  # handle -> SIGKILL deadline
        self._owed = 0  # regular workers to start
        self._retry_at = 0.0
        self._failures = 0
        self._stopping = False
        self._drain_deadline = 0.0
        self._thread = threading.Thread(
            target=self._loop, name=f"{pool.name}-supervisor", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    # -- requests, from any thread, even under the pool's lock: they never wait --

    def launch(self, temporary: bool = False, for_waiter: Any = None) -> None:
        self._request(Launch(temporary, for_waiter))

    def retire(self, handle: WorkerHandle, how: Exit, replace: bool) -> None:
        self._request(Retire(handle, how, replace))

    def stop(self) -> None:
        """Drain: stop idle workers, kill the others, reap them all; returns when done."""
        self._stopping = True
        self._wake()
        self._thread.join()
        with self._wake_lock:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_w = -1

    def _request(self, request: Launch | Retire) -> None:
        self._requests.append(request)
        self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"!")
            except BlockingIOError:
                pass  # already full of wake-ups

    # -- the loop --

    def _loop(self) -> None:
        while True:
            try:
                ready = self._wait()
                self._take_requests()
                if self._stopping:
                    self._drain()
                self._launch_owed()
                self._read_starting(ready)
                self._reap_dead_idle(ready)
                self._reap_retiring(ready)
                if self._stopping and self._drained():
                    return
            except Exception:
                log.exception("pool %s: supervisor error", self._pool.name)
                time.sleep(0.1)

    def _wait(self) -> set[int]:
        fds = [self._wake_r]
        deadlines = [time.monotonic() + IDLE_POLL]
        for handle, starting in self._starting.items():
            fds += (handle.conn_fd, handle.sentinel)
            deadlines.append(starting.deadline)
        fds += (handle.sentinel for handle in self._pool._idle_snapshot())
        fds += (handle.sentinel for handle in self._retiring)
        deadlines += self._retiring.values()
        if self._owed:
            deadlines.append(self._retry_at)
        timeout = max(0.0, min(deadlines) - time.monotonic())
        ready = {fd for fd in wait(fds, timeout) if isinstance(fd, int)}
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        return ready

    def _take_requests(self) -> None:
        while self._requests:
            request = self._requests.popleft()
            if isinstance(request, Retire):
                self._begin_retire(request.handle, request.how)
                if request.replace and not self._stopping:
                    self._owed += 1
            elif self._stopping:
                pass
            elif request.temporary:
                self._launch(True, request.for_waiter)
            else:
                self._owed += 1

    def _launch_owed(self) -> None:
        while self._owed and not self._stopping and time.monotonic() >= self._retry_at:
            self._owed -= 1
            self._launch(False, None)

    def _launch(self, temporary: bool, for_waiter: Any) -> None:
        handle = self._pool._new_handle(temporary)
        try:
            self._pool._launch(handle)
        except Exception as exc:
            error = WorkerStartFailed(None, None, f"could not start the process: {exc}")
            error.__cause__ = exc
            handle.release()
            self._start_failed(handle, error, for_waiter)
            return
        self._starting[handle] = _Starting(for_waiter, time.monotonic() + START_TIMEOUT)

    def _read_starting(self, ready: set[int]) -> None:
        now = time.monotonic()
        for handle, starting in list(self._starting.items()):
            if handle.conn_fd in ready or handle.sentinel in ready:
                error = self._handshake(handle)
            elif now >= starting.deadline:
                error = WorkerStartFailed(
                    handle.pid, None, f"it did not say ready within {START_TIMEOUT:g} s"
                )
            else:
                continue
            del self._starting[handle]
            if error is None:
                self._failures = 0
                if not self._pool._worker_ready(handle, starting.for_waiter):
                    self._begin_retire(handle, Exit.STOP)
            else:
                handle.kill_and_join()
                handle.release()
                self._start_failed(handle, error, starting.for_waiter)

    def _handshake(self, handle: WorkerHandle) -> WorkerStartFailed | None:
        """Read Ready; or the reason the worker failed to start."""
        assert handle.channel is not None
        if handle.wait(0) is True:
            try:
                msg = handle.channel.recv()
            except (EOFError, OSError):
                msg = None
            if type(msg) is Ready:
                return None
            if type(msg) is StartFailed:
                cause = msg.error.rebuild()
                error = WorkerStartFailed(
                    handle.pid, handle.join(5.0), f"{msg.error.type_name}: {msg.error.message}"
                )
                error.__cause__ = cause
                return error
        return WorkerStartFailed(handle.pid, handle.join(5.0), "it died during start-up")

    def _start_failed(
        self, handle: WorkerHandle, error: WorkerStartFailed, for_waiter: Any
    ) -> None:
        retry = self._pool._start_failed(handle, error, for_waiter)
        if retry and not self._stopping:
            delay = RETRY_DELAYS[min(self._failures, len(RETRY_DELAYS) - 1)]
            self._failures += 1
            self._owed += 1
            self._retry_at = time.monotonic() + delay
            log.error("pool %s: %s; trying again in %g s", self._pool.name, error, delay)

    def _reap_dead_idle(self, ready: set[int]) -> None:
        for handle in self._pool._idle_snapshot():
            if handle.sentinel in ready and self._pool._take_dead_idle(handle):
                code = handle.join(1.0)
                self._pool._idle_died(handle, code)
                log.warning(
                    "pool %s: idle worker %s died (exit code %s)", self._pool.name, handle.pid, code
                )
                self._begin_retire(handle, Exit.DEAD)
                if not handle.temporary and not self._stopping:
                    self._owed += 1

    def _begin_retire(self, handle: WorkerHandle, how: Exit) -> None:
        self._pool._mark_retiring(handle)
        now = time.monotonic()
        if how is Exit.STOP:
            assert handle.channel is not None
            try:
                handle.channel.send(Stop())
            except (OSError, EOFError):
                pass
            self._retiring[handle] = now + STOP_GRACE
        elif how is Exit.TERM:
            self._retiring[handle] = now + TERM_GRACE
        else:
            if how is Exit.KILL:
                handle.signal(signal.SIGKILL)
            self._retiring[handle] = now

    def _reap_retiring(self, ready: set[int]) -> None:
        now = time.monotonic()
        for handle, kill_at in list(self._retiring.items()):
            if handle.sentinel in ready or handle.join(0.0) is not None:
                pass
            elif now >= kill_at:
                handle.signal(signal.SIGKILL)
                if handle.join(5.0) is None:
                    self._retiring[handle] = now + 5.0
                    continue
            else:
                continue
            del self._retiring[handle]
            handle.release()
            self._pool._worker_gone(handle)

    # -- draining, at shutdown --

    def _drain(self) -> None:
        """Stop idle workers; the first time, also kill the busy and the starting ones."""
        if not self._drain_deadline:
            self._owed = 0
            self._drain_deadline = time.monotonic() + DRAIN_LIMIT
            for handle in self._pool._busy_snapshot():
                handle.signal(signal.SIGKILL)  # its caller notices and hands it back
            for handle in list(self._starting):
                del self._starting[handle]
                self._begin_retire(handle, Exit.KILL)
        for handle in self._pool._drain_idle():
            self._begin_retire(handle, Exit.STOP)

    def _drained(self) -> bool:
        if self._starting or self._retiring:
            return False
        left = self._pool._all_handles()
        if not left:
            return True
        if time.monotonic() < self._drain_deadline:
            return False
        for handle in left:  # callers that never handed their worker back
            log.warning(
                "pool %s: worker %s was not handed back; releasing it", self._pool.name, handle.pid
            )
            handle.release()
            self._pool._worker_gone(handle)
        return True
