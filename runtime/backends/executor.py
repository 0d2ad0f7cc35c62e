"""The master's side of @offload: the backend that runs the script's offloaded handlers.

An :class:`Executor` belongs to one start of the plugin (runtime.plugin.session),
which starts it only when the script has offloaded handlers. ``Pool.Backend`` chooses the backend (runtime.backends.protocol):
the local pool of worker processes below (the default), or a Dask cluster
(runtime.backends.dask_cluster, imported only then). Routes wait for their answer on
the Orthanc HTTP thread (which serves the worker's SDK calls meanwhile),
events are fire-and-forget.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from pool import Pool, PoolClosed, PoolFull, TaskTimeout, WorkerCrashed
from pool.errors import describe_exitcode
from pool.idle import IdleSet
from runtime import answers, context
from runtime.backends import fast_lane, streams, tasks
from runtime.backends.protocol import OffloadBackend
from runtime.http import Request, Response
from runtime.sdk import transport

CONTEXT_PREFIX = "orthanc-runtime-"
# orthanc-runtime-<pid of the master>-<random>: the pid tells a later start
# whether the master that made it is gone.
_CONTEXT_NAME = re.compile(re.escape(CONTEXT_PREFIX) + r"(\d+)-")

_T = TypeVar("_T")

WORKER_MODULE = "runtime.worker"
"""What each worker imports first, named, not imported: it runs only in workers."""

ANSWER_TIME = 0.5
"""Seconds of ShutdownGrace kept, at its end, for ended tasks to write their 503.

Orthanc stops its HTTP server when the grace is over (runtime.callbacks.rest),
and an answer not written by then is cut."""


class LocalBackend:
    """Offloaded handlers in a pool of worker processes on this machine (pool.Pool).

    Stopping keeps ShutdownGrace from the moment Orthanc says it stops
    (``orthanc_stopping``): Orthanc then waits for its HTTP threads, so a task
    still running at the end of the grace is ended there (its request answers
    503), not at its own timeout.
    """

    name = "local"

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._stop_deadline: float | None = None  # when the pool ends its tasks, once Orthanc stops
        self._stop_timer: threading.Timer | None = None

    @property
    def workers(self) -> int:
        return self.pool.workers

    def restart(self, section: dict[str, Any], modules: list[str]) -> LocalBackend:
        """A new pool for reloaded scripts; the old one finishes its tasks, then stops.

        Requests go to the new pool as soon as it is ready: none waits for a
        closed one. The fork server is shared, so both pools import the scripts in
        their workers (``fresh``), never in the fork server. The caller shuts this
        one down once the new one takes the tasks (Executor.restart).
        """
        new = _new_pool(section, modules, True)
        new.start()
        return LocalBackend(new)

    # Each task runs in its worker as part of the caller's request (tasks.in_context): the
    # handler's name and the request id, for the worker's logs and SDK calls.

    def run_route(self, handler: Callable[..., Any], request: Request,
                  timeout: float | None) -> Response:
        return self.pool.run(  # type: ignore[no-any-return]
            tasks.in_context,
            (context.carried(), tasks.run_route, tasks.HandlerRef.of(handler), request),
            timeout=timeout)

    def run_call(self, handler: Callable[..., Any], argument: Any, timeout: float | None) -> Any:
        return self.pool.run(
            tasks.in_context,
            (context.carried(), tasks.run_gate, tasks.HandlerRef.of(handler), argument),
            timeout=timeout)

    def submit_event(self, handler: Callable[..., Any], event: Any,
                     timeout: float | None) -> Future[Any]:
        return self.pool.submit(
            tasks.in_context,
            (context.carried(), tasks.run_event, tasks.HandlerRef.of(handler), event),
            timeout=timeout)

    def submit_job_run(self, handler: Callable[..., Any], args: tuple[Any, ...],
                       timeout: float) -> Future[Any]:
        return self.pool.submit(tasks.in_context, (context.carried(), handler, *args),
                                timeout=timeout)

    def add_master_functions(self, functions: dict[str, Callable[..., Any]]) -> None:
        self.pool.master_functions.update(functions)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, **self.pool.status()}

    def metrics(self) -> dict[str, float]:
        state = self.pool.status()
        values = {
            "orthanc_runtime_workers_busy": state["workers"]["busy"],
            "orthanc_runtime_workers_idle": state["workers"]["idle"],
            "orthanc_runtime_queue_depth": state["queue"],
        }
        for key, value in state["tasks"].items():
            values[f"orthanc_runtime_tasks_{key}"] = value
        return {name: float(value) for name, value in values.items()}

    def orthanc_stopping(self, grace: float) -> None:
        """Orthanc stops: tasks still running after ``grace`` seconds are ended, their callers
        get PoolClosed.

        Called when Orthanc signals ORTHANC_STOPPED, which it does before it stops
        its HTTP server (and waits, without limit, for the HTTP threads that wait
        for a task). Returns at once.
        """
        if self._stop_deadline is not None:
            return
        delay = max(0.0, grace - min(ANSWER_TIME, grace / 4))
        self._stop_deadline = time.monotonic() + delay
        self._stop_timer = threading.Timer(delay, self.pool.shutdown, kwargs={"grace": 0})
        self._stop_timer.name = "orthanc-runtime-grace"
        self._stop_timer.daemon = True
        self._stop_timer.start()

    def shutdown(self, grace: float | None = None) -> None:
        """Shut the pool down within ``grace`` (what is left of it, once Orthanc said it stops)."""
        timer, self._stop_timer = self._stop_timer, None
        if timer is not None:
            timer.cancel()
        if self._stop_deadline is not None:
            left = max(0.0, self._stop_deadline - time.monotonic())
            grace = left if grace is None else min(grace, left)
            self._stop_deadline = None
        self.pool.shutdown(grace)


def _new_pool(section: dict[str, Any], modules: list[str], fresh: bool,
              idle: IdleSet | None = None) -> Pool:
    settings = section["Pool"]
    preload = [WORKER_MODULE] if fresh else [WORKER_MODULE, *modules]
    imports = tuple(modules) if fresh else ()
    return Pool(
        workers=settings["Workers"],
        start_method=settings["StartMethod"],
        preload=preload,
        initializer=functools.partial(tasks.boot, WORKER_MODULE, section, imports),
        master_functions={**transport.master_functions(), **streams.master_functions()},
        task_timeout=settings["TaskTimeout"],
        queue_limit=settings["QueueLimit"],
        max_tasks_per_worker=settings["MaxTasksPerWorker"],
        max_worker_memory_mb=settings["MaxWorkerMemoryMB"],
        shutdown_grace=settings["ShutdownGrace"],
        name="orthanc-runtime",
        idle=idle,
    )


# -- what the local pool's failures answer (runtime.answers' table) ------------------------

@answers.answer_errors(PoolFull)
def _pool_full(error: PoolFull, where: str, route: str) -> Response:
    return answers.error_response(503, "all workers are busy and the queue is full; retry later",
                                  route=route, type_name=type(error).__name__,
                                  headers={"Retry-After": "1"})


@answers.answer_errors(PoolClosed)
def _pool_closed(error: PoolClosed, where: str, route: str) -> Response:
    return answers.error_response(503, "Orthanc is stopping", route=route,
                                  type_name=type(error).__name__)


@answers.answer_errors(TaskTimeout)
def _task_timeout(error: TaskTimeout, where: str, route: str) -> Response:
    error_id = answers.new_error_id()
    answers.note_error(where, type(error).__name__, answers.safe_str(error), error_id)
    answers.log_error(f"{where}: {answers.safe_str(error)}; its worker was replaced "
                      f"[error id {error_id}]")
    return answers.error_response(
        504, f"the handler did not finish within {error.seconds:g} s; its worker was stopped",
        route=route, type_name=type(error).__name__, error_id=error_id)


@answers.answer_errors(WorkerCrashed)
def _worker_crashed(error: WorkerCrashed, where: str, route: str) -> Response:
    error_id = answers.new_error_id()
    answers.note_error(where, type(error).__name__, answers.safe_str(error), error_id)
    answers.log_error(f"{where}: {answers.safe_str(error)} [error id {error_id}]")
    return answers.error_response(
        502, f"the worker running the handler {describe_exitcode(error.exitcode)}; "
             "it was replaced", route=route, type_name=type(error).__name__, error_id=error_id)


class Executor:
    """The offload backend of one start of the plugin (runtime.plugin.session owns it).

    ``backend`` is None until ``start`` and after ``shutdown``; a reload replaces
    it (``restart``), and the backends it replaced finish their tasks meanwhile
    (``retired``), stopped with the current one.
    """

    def __init__(self) -> None:
        self.backend: OffloadBackend | None = None
        self.retired: list[OffloadBackend] = []
        self._retired_lock = threading.Lock()
        self.context_folder: str | None = None
        self.fast: fast_lane.NativeIdle | None = None  # the fast path's idle set, when it runs
        self._native: Any = None

    def start(self, section: dict[str, Any], modules: list[str], *,
              fresh: bool = False, native: Any = None,
              write: fast_lane.Writer | None = None) -> OffloadBackend:
        """Starts the backend that ``Pool.Backend`` names; returns when it can run handlers.

        ``modules`` (the script, the enabled recipes) are what the workers import.
        For the local pool they are preloaded by the fork server, after
        runtime.worker, so that a new worker is ready at once; with ``fresh``
        (scripts that may be reloaded), each worker imports them itself when it
        starts, so that a new pool runs the code as it is on disk then.
        """
        started: OffloadBackend
        if section["Pool"].get("Backend", "local") == "dask":
            from runtime.backends.dask_cluster import (
                DaskBackend,  # distributed is imported only when chosen
            )

            dask = DaskBackend(section, modules)
            dask.start()
            started = dask
        else:
            self._make_context_folder()
            fast = None
            if native is not None and write is not None and fast_lane.enabled(section):
                fast = fast_lane.NativeIdle(native, section["Pool"]["QueueLimit"], write)
            pool = _new_pool(section, modules, fresh, fast)
            if fast is not None:
                fast.pool = pool
            pool.start()
            started = LocalBackend(pool)
            if fast is not None:  # offloaded routes now go to the workers from C++ (fast_path.cpp)
                native.set_fast_pool(fast.native)
                self.fast, self._native = fast, native
        self.backend = started
        return started

    def _make_context_folder(self) -> None:
        if self.context_folder is not None:
            return
        for folder in remove_stale_context_folders():
            transport.call("LogWarning",
                           f"orthanc-runtime: removed {folder}, left by a master that died")
        # What a worker may read while it imports the script (Orthanc's configuration
        # holds secrets: a private folder, a 0600 file, removed at shutdown, and by
        # the next start if this process dies first).
        self.context_folder = tempfile.mkdtemp(prefix=f"{CONTEXT_PREFIX}{os.getpid()}-")
        transport.write_worker_context(os.path.join(self.context_folder, "context.json"))

    def restart(self, section: dict[str, Any], modules: list[str]) -> OffloadBackend:
        """The backend that runs reloaded scripts; the old one finishes its tasks, then stops.

        The new backend takes the next tasks before the old one closes: a task that
        picked the old one and finds it closed before reaching a worker runs on the
        new one (``_on_current``), and the tasks already in the old one's workers
        end by their own timeouts, not by ShutdownGrace.
        """
        old = self._require()
        new = old.restart(section, modules)
        self.backend = new
        if new is not old:
            with self._retired_lock:
                self.retired.append(old)
            threading.Thread(target=self._drain, args=(old,), name="orthanc-runtime-old-pool",
                             daemon=True).start()
        return new

    def _drain(self, old: OffloadBackend) -> None:
        try:
            old.shutdown(math.inf)
        finally:
            with self._retired_lock:
                if old in self.retired:
                    self.retired.remove(old)

    def current(self) -> OffloadBackend | None:
        return self.backend

    def _require(self) -> OffloadBackend:
        if self.backend is None:
            raise RuntimeError("the worker pool is not running")
        return self.backend

    def _on_current(self, call: Callable[[OffloadBackend], _T]) -> _T:
        """``call(backend)``; again on the backend that replaced it (a reload) if that one was
        closed before the task reached a worker."""
        while True:
            used = self._require()
            try:
                return call(used)
            except PoolClosed as error:
                if error.may_have_run or self.backend is used or self.backend is None:
                    raise

    def run_route(self, handler: Callable[..., Any], request: Request,
                  timeout: float | None) -> Response:
        return self._on_current(lambda b: b.run_route(handler, request, timeout))

    def run_call(self, handler: Callable[..., Any], argument: Any, timeout: float | None) -> Any:
        """Runs ``handler(argument)`` in a worker and returns what it returns (a gate's answer)."""
        return self._on_current(lambda b: b.run_call(handler, argument, timeout))

    def submit_event(self, handler: Callable[..., Any], event: Any,
                     timeout: float | None) -> Future[Any]:
        return self._on_current(lambda b: b.submit_event(handler, event, timeout))

    def submit_job_run(self, handler: Callable[..., Any], args: tuple[Any, ...],
                       timeout: float) -> Future[Any]:
        """One run of an offloaded job (runtime.jobs): the pool's thread serves its reports."""
        return self._on_current(lambda b: b.submit_job_run(handler, args, timeout))

    def orthanc_stopping(self, grace: float) -> None:
        """Orthanc stops: tasks still running after ``grace`` seconds are ended (see
        LocalBackend), in the backends that reloads replaced too."""
        with self._retired_lock:
            backends = [*self.retired, *([self.backend] if self.backend is not None else [])]
        for each in backends:
            each.orthanc_stopping(grace)

    def shutdown(self, grace: float | None = None) -> None:
        """Shut the backend down within ``grace`` (what is left of it, once Orthanc said it
        stops), with the backends that reloads replaced and that still finish their tasks."""
        stopping, self.backend = self.backend, None
        if self.fast is not None:  # new requests take the Python path, which says the pool stops
            self._native.set_fast_pool(None)
            self.fast = None
        with self._retired_lock:
            retired = list(self.retired)
        try:
            ends = [threading.Thread(target=old.shutdown, args=(grace,), daemon=True,
                                     name="orthanc-runtime-old-pool-stop") for old in retired]
            for thread in ends:
                thread.start()
            if stopping is not None:
                stopping.shutdown(grace)
            for thread in ends:
                thread.join()
        finally:
            if self.context_folder is not None:
                shutil.rmtree(self.context_folder, ignore_errors=True)
                self.context_folder = None


def remove_stale_context_folders(folder: str | None = None) -> list[str]:
    """Remove the context folders of this user's masters that are gone; the paths removed.

    A folder whose master's pid is alive is kept, even if the pid was reused:
    a folder kept too long is better than one removed under a running master.
    """
    folder = folder or tempfile.gettempdir()
    uid = os.getuid()
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _CONTEXT_NAME.match(entry.name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != uid:
                continue
        except OSError:
            continue
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
