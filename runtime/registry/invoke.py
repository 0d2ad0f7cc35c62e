"""The one place that decides how a recorded handler runs: inline, offloaded, or adapted.

Each record of the registry gets its invoker once, when the plugin registers
the script's handlers with Orthanc (runtime.plugin, at start and at reload),
as a router compiles its routes once::

    runtime.plugin --bind--> each callback module binds its records with the session's Binder:
        binder.bind(entry, kind, glue)
          entry.adapter (an official-style callback: runtime.compat supplied it)
              --> entry.invoke = adapter(entry)         Orthanc's objects, the official signature
          @offload --> run = RUNS[kind].offloaded(binder, handler, timeout)   through its Executor
          else     --> run = RUNS[kind].inline(handler)               on the calling thread
              --> entry.invoke = glue(entry, run)       the callback's own arguments -> run(value)

    a callback (runtime.callbacks.*) --entry.invoke(...)--> the handler's answer

So a callback never asks whether a handler is offloaded or official-style:
it calls ``entry.invoke`` with its own arguments, and each kind's ``glue``
(written beside the callback) turns them into the value the handler takes.
A new kind of offloadable handler is one row of :data:`RUNS` (a kind whose runs live in a
layer above, jobs, adds its row from there).

An offloaded on-stored-instance handler gets the instance's bytes with its
event: Orthanc's ingest callback hands the master the DICOM file, which
the session's :class:`KeptBytes` hold (bounded by :data:`KEPT_BYTES_LIMIT`) until the handler's
event leaves for a worker. An event without them (read again from the change
log after a restart, or dropped for room) reads them from Orthanc as before.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.backends import tasks
from runtime.events import StoredInstance
from runtime.handler_stats import HandlerCounter, HandlerStats
from runtime.http import to_response
from runtime.registry import (
    ChangeListener,
    DicomService,
    Handler,
    HttpFilter,
    JobType,
    ReceivedInstanceHandler,
    RouteHandler,
    StorageAreaEntry,
    StoredListener,
    active,
    offload_of,
)
from runtime.registry.verdicts import refuse_coroutine

if TYPE_CHECKING:  # the executor loads the pool; `import runtime` (jobs' row below) must not
    from runtime.backends.executor import Executor

Run = Callable[..., Any]
Glue = Callable[[Any, Run], Callable[..., Any]]


def now(function: Callable[..., Any], *args: Any) -> Future[Any]:
    """``function(*args)`` on this thread, as a done future (what an inline event handler
    answers, like an offloaded one). An Exception is the future's; anything else (SystemExit)
    goes through, as it did before futures."""
    future: Future[Any] = Future()
    try:
        future.set_result(function(*args))
    except Exception as error:
        future.set_exception(error)
    return future


def shaped(call: tuple[Any, Callable[..., Any], Any, tuple[Any, ...]]) -> Any:
    """``shape(handler(request), request, *extra)``: run in a worker when the handler is
    offloaded, so that what crosses back is already checked (a coroutine never has to
    pickle)."""
    handler, shape, request, extra = call
    answer = tasks.resolved(handler)(request)
    refuse_coroutine(answer)
    return shape(answer, request, *extra)


# -- how each kind of handler runs -------------------------------------------------------

def _route_inline(handler: Callable[..., Any]) -> Run:
    return lambda request: to_response(handler(request))


def _route_offloaded(binder: Binder, handler: Callable[..., Any], timeout: float | None) -> Run:
    return lambda request: binder.executor.run_route(handler, request, timeout)


def _checked_inline(handler: Callable[..., Any]) -> Run:
    return lambda shape, request, *extra: shaped((handler, shape, request, extra))


def _checked_offloaded(binder: Binder, handler: Callable[..., Any], timeout: float | None) -> Run:
    ref = tasks.HandlerRef.of(handler)  # crosses by name, as every offloaded handler
    return lambda shape, request, *extra: binder.executor.run_call(
        shaped, (ref, shape, request, extra), timeout)


def _call_offloaded(binder: Binder, handler: Callable[..., Any], timeout: float | None) -> Run:
    return lambda value: binder.executor.run_call(handler, value, timeout)


def _event_inline(handler: Callable[..., Any]) -> Run:
    return lambda event: now(handler, event)


def _event_offloaded(binder: Binder, handler: Callable[..., Any], timeout: float | None) -> Run:
    return lambda event: binder.executor.submit_event(handler, event, timeout)


def _stored_offloaded(binder: Binder, handler: Callable[..., Any], timeout: float | None) -> Run:
    kept = binder.kept
    return lambda event: binder.executor.submit_event(handler, kept.attach(event), timeout)


@dataclass(frozen=True)
class How:
    """How a kind of handler runs: ``inline(handler)`` or ``offloaded(binder, handler,
    timeout)`` make what the kind's glue calls."""

    inline: Callable[[Callable[..., Any]], Run]
    offloaded: Callable[[Binder, Callable[..., Any], float | None], Run]


RUNS: dict[str, How] = {
    # a route: run(request) -> Response or StreamingResponse
    "route": How(_route_inline, _route_offloaded),
    # a gate or a DICOM service: run(shape, request, *extra) -> its answer, checked by shape
    "checked": How(_checked_inline, _checked_offloaded),
    # run(value) -> what the handler answers (the received-instance handler)
    "call": How(lambda handler: handler, _call_offloaded),
    # an on-change handler: run(event) -> a future that ends with it
    "event": How(_event_inline, _event_offloaded),
    # an on-stored-instance handler: as an event, offloaded with the bytes Orthanc gave
    "stored": How(_event_inline, _stored_offloaded),
    # "job": run(job) -> a run of a job's handler; its row is runtime.jobs' (its runs live there)
}


def _plain(entry: Handler | JobType, run: Run) -> Callable[..., Any]:
    return run


# -- counted: each run's time and outcome, for the handler's counter (runtime.handler_stats) --

def _counted_call(run: Run, counter: HandlerCounter,
                  failed: Callable[[Any], bool] = lambda answer: False) -> Run:
    """A run that answers (or raises) when the handler is done: a gate's, a DICOM service's; an
    answer for which ``failed`` is true counts as an error too."""
    clock = time.perf_counter
    record = counter.recorder()

    def counted(*args: Any) -> Any:
        started = clock()
        try:
            answer = run(*args)
        except BaseException:
            record(clock() - started, True)
            raise
        record(clock() - started, failed(answer))
        return answer

    return counted


def _counted_route(run: Run, counter: HandlerCounter) -> Run:
    """A route's run: its answer of 500 or more counts as an error too (an offloaded handler's
    failure may come back as one)."""
    return _counted_call(run, counter, lambda answer: getattr(answer, "status", 200) >= 500)


def _counted_future(run: Run, counter: HandlerCounter) -> Run:
    """An event's run, which answers a future: counted when the future ends (queue time in)."""
    clock = time.perf_counter
    record = counter.recorder()

    def counted(*args: Any) -> Any:
        started = clock()
        try:
            future = run(*args)
        except BaseException:
            record(clock() - started, True)
            raise
        future.add_done_callback(
            lambda done: record(clock() - started,
                                done.cancelled() or done.exception() is not None))
        return future

    return counted


def _label(entry: Handler | JobType, kind: str) -> str:
    """What a handler's counter calls its kind (/runtime/status, Prometheus' ``kind``)."""
    if isinstance(entry, DicomService):
        return f"dicom_{entry.kind}"
    for cls, label in ((RouteHandler, "route"), (ChangeListener, "on_change"),
                       (StoredListener, "on_stored_instance"), (HttpFilter, "http_filter"),
                       (ReceivedInstanceHandler, "received_instance")):
        if isinstance(entry, cls):
            return label
    return "cstore_filter" if kind == "checked" else kind


_COUNTED = {"route": _counted_route, "checked": _counted_call, "call": _counted_call,
            "event": _counted_future, "stored": _counted_future}
"""How each kind's run is counted; a kind not here (jobs: their runs report progress, not
answers) is not."""


class Binder:
    """Binds the records of one start of the plugin (runtime.plugin.session): an offloaded
    handler runs through its ``executor``; an offloaded on-stored-instance handler's event
    takes the bytes ``kept`` at ingest."""

    def __init__(self, executor: Executor, kept: KeptBytes,
                 stats: HandlerStats | None = None) -> None:
        self.executor = executor
        self.kept = kept
        self.stats = stats  # each handler's counter (runtime.handler_stats), when kept

    def bind(self, entry: Handler | JobType, kind: str, glue: Glue = _plain) -> None:
        """Gives ``entry`` its invoker: its compat adapter, or ``glue`` over how its kind runs;
        counted in ``stats`` (an official-style route's too)."""
        counting = _COUNTED.get(kind) if self.stats is not None else None
        if entry.adapter is not None:
            invoke = entry.adapter(entry)
            if kind == "route" and self.stats is not None:
                invoke = _counted_route(invoke, self.stats.counter(entry.name, "route"))
            entry.invoke = invoke
            return
        how = RUNS[kind]
        offload = entry.offload
        run = how.inline(entry.handler) if offload is None else \
            how.offloaded(self, entry.handler, offload.timeout)
        if counting is not None and self.stats is not None:
            run = counting(run, self.stats.counter(entry.name, _label(entry, kind)))
        entry.invoke = glue(entry, run)

    def bind_stored(self, listeners: list[StoredListener]) -> None:
        """On-stored-instance handlers: an official-style one runs on Orthanc's ingest thread
        (``on_ingest``, its DicomInstance alive), a decorated one from the change log
        (``invoke``); an offloaded one keeps the bytes Orthanc gives at ingest for its event."""
        self.kept.clear()
        for listener in listeners:
            listener.invoke = listener.on_ingest = None
            if listener.adapter is not None:
                listener.on_ingest = listener.adapter(listener)
                continue
            self.bind(listener, "stored")
            if listener.offload is not None:
                listener.on_ingest = self.kept.keep
                self.kept.readers += 1

    def bind_storage_area(self, area: StorageAreaEntry) -> None:
        """The storage area's three methods: in a worker if ``@offload``ed and the pool runs,
        in the master otherwise (while Orthanc starts or stops, without a pool)."""
        for method in ("create", "read", "remove"):
            function = getattr(area, method)
            offload = offload_of(function)
            area.invokers[method] = function if offload is None else \
                self._area_offloaded(function, method, offload.timeout)

    def _area_offloaded(self, function: Callable[..., Any], method: str,
                        timeout: float | None) -> Callable[..., Any]:
        from pool import PoolClosed

        executor = self.executor

        def invoke(*args: Any) -> Any:
            if executor.current() is not None:
                try:
                    return executor.run_call(area_method_in_worker, (method, args), timeout)
                except PoolClosed:  # Orthanc is stopping: its last operations run here
                    pass
            return function(*args)

        return invoke


def inline_binder() -> Binder:
    """A binder without a pool: what binds a record made without the plugin (a test) at its
    first use; an offloaded handler then answers that the pool is not running."""
    from runtime.backends.executor import Executor

    return Binder(Executor(), KeptBytes())


def area_method_in_worker(call: tuple[str, tuple[Any, ...]]) -> Any:
    """In a worker: the same method of the worker's own storage area (the script, imported
    there too, recorded one)."""
    method, args = call
    area = active().storage_area
    if area is None:
        raise RuntimeError("no storage area is registered")
    return getattr(area, method)(*args)


# -- the bytes of stored instances, from ingest to the offloaded handler's event ----------

SEEN_LIMIT = 4096
"""Instances whose ingest the master remembers having seen (for wait_for)."""

KEPT_BYTES_LIMIT = 256 << 20
"""Bytes of stored instances the master keeps at most for offloaded handlers; past it, the
oldest go, and their handlers read them from Orthanc."""


class KeptBytes:
    """DICOM files that Orthanc handed the master at ingest, each until every offloaded
    on-stored-instance handler's event has taken it (``readers`` of them), or it is
    dropped for room (oldest first, past ``limit`` bytes)."""

    def __init__(self, limit: int = KEPT_BYTES_LIMIT) -> None:
        self.limit = limit
        self.readers = 0  # offloaded on-stored-instance handlers bound now
        self.size = 0
        self.dropped = 0
        self._files: collections.OrderedDict[str, list[Any]] = collections.OrderedDict()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    def keep(self, dicom: Any, instance_id: str) -> None:
        """On Orthanc's ingest thread: the instance's bytes, for the events to come."""
        from runtime.sdk.calls import DicomInstance  # the SDK's object, valid during this call

        if self.readers > 0:
            self.put(instance_id, DicomInstance(dicom).GetInstanceData())

    def put(self, instance_id: str, data: bytes) -> None:
        with self._lock:
            self._seen[instance_id] = None
            while len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
            self._arrived.notify_all()
            if len(data) > self.limit:
                self.dropped += 1
                return
            old = self._files.pop(instance_id, None)
            if old is not None:
                self.size -= len(old[0])
            self._files[instance_id] = [data, self.readers]
            self.size += len(data)
            while self.size > self.limit:
                _, (dropped, _) = self._files.popitem(last=False)
                self.size -= len(dropped)
                self.dropped += 1

    def wait_for(self, instance_id: str, timeout: float) -> None:
        """Waits at most ``timeout`` seconds for Orthanc's ingest callback to have handed over
        ``instance_id`` (kept, or dropped for room): the change of a stored instance can be
        read a moment before that callback runs. Returns at once with no offloaded reader."""
        with self._arrived:
            if self.readers > 0:
                self._arrived.wait_for(lambda: instance_id in self._seen, timeout)

    def take(self, instance_id: str) -> bytes | None:
        """The bytes of ``instance_id`` for one reader, or None if they are not kept."""
        with self._lock:
            found = self._files.get(instance_id)
            if found is None:
                return None
            found[1] -= 1
            if found[1] <= 0:
                del self._files[instance_id]
                self.size -= len(found[0])
            return found[0]  # type: ignore[no-any-return]

    def attach(self, event: Any) -> Any:
        """The event with its instance's bytes, where they are kept."""
        if not isinstance(event, StoredInstance):
            return event
        data = self.take(event.id)
        if data is None:
            return event
        return StoredInstance(event.id, event.seq, {"data": data})

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
            self._seen.clear()
            self.size = 0
            self.readers = 0

