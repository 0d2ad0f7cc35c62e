"""The master's side of the fast path: which routes take it, and what Python does for it.

An offloaded route's request normally takes the master's GIL on its way to a
worker and back (runtime.callbacks.rest -> Executor -> pool.Pool.run). On the
fast path (orthanc_native/src/fast_path.cpp) Orthanc's HTTP thread leases an
idle worker from a native idle set, writes the request to the worker's pipe
and executes the answer's write plan, all in C++. Python is called only for::

    on_frame(output, serial, data, ...)    (each call names the request's id: Python runs in
                                           its context, runtime.context)
                                           a pickled message on the pipe: an SDK call of
                                           the handler (served here, as Pool.run would:
                                           WAIT_ON), or an answer the C++ does not write (a
                                           Response of 1 MB or more, refused: DONE; the
                                           handler's error: FAILED)
    on_failure(output, serial, how, ...)   the worker died (502), overran its time (504), or
                                           is in an unknown state: the pool replaces it
    lease_ended(serial)                    a worker comes back while pool callers wait for
                                           one (or the pool closes): through the pool

:class:`NativeIdle` is the native set seen as the pool's ``IdleSet`` (pool.idle):
the pool puts and takes its idle workers there, so that both lines share them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pool import Pool
from pool.caller import serve_call
from pool.handle import WorkerHandle
from pool.messages import Call, Failure, Result
from runtime import answers, context
from runtime.backends import streams, tasks
from runtime.handler_stats import BOUNDS, HandlerStats
from runtime.http import Response
from runtime.sdk import telemetry

WAIT_ON, DONE, FAILED = 0, 1, 2
"""What ``on_frame`` returns (fast_path.cpp's kWaitOn, kDone, kFailed)."""

Writer = Callable[..., None]
"""``write(output, response, where, route)``: runtime.callbacks.rest.write, given by the plugin."""


def enabled(section: dict[str, Any]) -> bool:
    """Whether offloaded routes take the fast path with this configuration (config.schema.json,
    Pool.FastPath, says when it is off)."""
    pool = section["Pool"]
    return (bool(pool.get("FastPath", True)) and not telemetry.wanted(section) and pool.get("Backend", "local") == "local"
            and not section.get("Reload") and not pool.get("MaxTasksPerWorker")
            and not pool.get("MaxWorkerMemoryMB"))


def descriptor(entry: Any, pattern: str) -> str | None:
    """What each request frame of ``entry`` carries: its handler by name, its route; None if
    the handler cannot be found by name in a worker (it takes the Python path)."""
    ref = tasks.HandlerRef.of(entry.handler)
    if not isinstance(ref, tasks.HandlerRef):
        return None
    return json.dumps({"module": ref.module, "qualname": ref.qualname, "pattern": pattern,
                       "name": entry.name}, separators=(",", ":"))


def fast_methods(route: Any, default_timeout: float,
                 stats: HandlerStats | None = None) -> dict[str, tuple[str, float, int]]:
    """The methods of ``route`` whose handler is offloaded, decorated (not official-style)
    and found by name: {method: (descriptor, timeout, key)}; the fast path counts each answer
    under ``key``, its handler's counter in ``stats`` (-1: not counted)."""
    methods: dict[str, tuple[str, float, int]] = {}
    for method, entry in route.by_method.items():
        offload = entry.offload
        if offload is None or entry.adapter is not None:
            continue
        found = descriptor(entry, route.pattern.source)
        if found is not None:
            timeout = offload.timeout if offload.timeout is not None else default_timeout
            key = stats.counter(entry.name, "route").key if stats is not None else -1
            methods[method] = (found, float(timeout), key)
    return methods


class NativeIdle:
    """The native idle set (``_orthanc_native.IdleSet``) as a pool's ``pool.idle.IdleSet``, and
    the Python the fast path calls (see the module docstring)."""

    def __init__(self, native: Any, queue_limit: int, write: Writer) -> None:
        self.pool: Pool | None = None  # set once the pool exists (Executor.start)
        self.write = write
        self._handles: dict[int, WorkerHandle] = {}
        self.native = native.IdleSet(self._on_frame, self._on_failure, self._lease_ended,
                                     queue_limit, list(BOUNDS))
        self._described: dict[str, tuple[str, str]] = {}

    # -- pool.idle.IdleSet --

    def append(self, handle: WorkerHandle) -> None:
        assert handle.channel is not None
        self._handles[handle.serial] = handle
        self.native.push(handle.serial, handle.channel.fileno())

    def take(self, waiting: int) -> WorkerHandle | None:
        serial = self.native.take(waiting)
        return None if serial < 0 else self._handles[serial]

    def set_waiting(self, waiting: int) -> None:
        self.native.set_waiting(waiting)

    def discard(self, handle: WorkerHandle) -> bool:
        if not self.native.discard(handle.serial):
            return False
        self._handles.pop(handle.serial, None)
        return True

    def handles(self) -> list[WorkerHandle]:
        return [self._handles[s] for s in self.native.serials()]

    def drain(self) -> list[WorkerHandle]:
        return [self._handles.pop(s) for s in self.native.drain()]

    def waiting_outside(self) -> int:
        return int(self.native.native_waiting())

    def leased(self) -> int:
        return int(self.native.leased())

    def answered(self) -> tuple[int, int]:
        done, failed = self.native.answered()
        return int(done), int(failed)

    def take_latencies(self) -> list[float]:
        return list(self.native.take_latencies())

    def take_tasks_by_worker(self) -> dict[int, int]:
        """Answers per worker serial since the last call (pool.idle)."""
        return dict(self.native.take_tasks_by_serial())

    def take_handler_stats(self) -> list[tuple[int, int, int, float, list[int]]]:
        """What the fast path counted per handler key since the last call, for
        runtime.handler_stats: ``(key, requests, errors, seconds, buckets)``."""
        return [tuple(each) for each in self.native.take_key_stats()]  # type: ignore[misc]

    def __len__(self) -> int:
        return len(self.native)

    # -- what fast_path.cpp calls, with the GIL --

    def _where(self, descriptor: str, method: str, url: str) -> tuple[str, str, str]:
        """``(where, route, handler's name)``, for logs and error answers."""
        found = self._described.get(descriptor)
        if found is None:
            parsed = json.loads(descriptor)
            found = self._described[descriptor] = (parsed["name"], parsed["pattern"])
        name, pattern = found
        return f"{name} ({method} {url})", pattern, name

    def _pool(self) -> Pool:
        if self.pool is None:
            raise RuntimeError("the fast path runs without its pool")
        return self.pool

    @staticmethod
    def _sink(output: Any) -> streams.Sink:
        """The sink of this request's streamed answer, kept across its calls."""
        sink = streams.current_sink()
        if sink is None or sink.output is not output:
            sink = streams.Sink(output).__enter__()
        return sink

    def _on_frame(self, output: Any, serial: int, data: bytes, descriptor: str, method: str,
                  url: str, request_id: str) -> int:
        where, route, name = self._where(descriptor, method, url)
        running = context.enter(name, request_id)
        try:
            return self._frame(output, serial, data, where, route)
        finally:
            context.leave(running)

    def _frame(self, output: Any, serial: int, data: bytes, where: str, route: str) -> int:
        pool = self._pool()
        handle = self._handles[serial]
        assert handle.channel is not None
        message = handle.channel.decode(data)
        sink = self._sink(output)
        if type(message) is Call:
            serve_call(handle, message, pool.master_functions)
            return WAIT_ON
        response: Any
        if type(message) is Result:
            response, said = message.value, DONE
        elif type(message) is Failure:
            response = answers.error_to_response(message.error.rebuild(), where, route)
            said = FAILED
        else:
            raise RuntimeError(f"protocol error: a fast request's worker sent {message!r:.200}")
        self._finish(output, sink, response, where, route)
        return said

    def _finish(self, output: Any, sink: streams.Sink, response: Any, where: str,
                route: str) -> None:
        sink.__exit__()
        if not sink.started:
            self.write(output, response, where, route)
        elif isinstance(response, Response) and response.status != 200:
            answers.log_error(f"{where}: the streamed answer is cut after {sink.sent} bytes: HTTP "
                              f"{response.status} {response.body[:300].decode(errors='replace')}")

    def _on_failure(self, output: Any, serial: int, how: str, descriptor: str, method: str,
                    url: str, seconds: float, request_id: str) -> None:
        handle = self._handles.pop(serial)
        error = self._pool().lease_failed(handle, how, seconds)
        where, route, name = self._where(descriptor, method, url)
        running = context.enter(name, request_id)
        try:
            self._finish(output, self._sink(output),
                         answers.error_to_response(error, where, route), where, route)
        finally:
            context.leave(running)

    def _lease_ended(self, serial: int) -> None:
        self._pool().lease_ended(self._handles[serial])
