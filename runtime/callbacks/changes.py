"""Durable, at-least-once delivery of events to on-change and on-stored-instance handlers.

Orthanc records every change of its database in a numbered log (``GET
/changes``) that survives bursts, stops and crashes. Each event handler reads
that log at its own pace, from a checkpoint kept in Orthanc's database::

    Orthanc's change thread --Hub.signal(type, level, id)--> a type of the log: wake the feeds
                                                            any other type: the live queue
                                                            of each feed that wants it
    one Feed thread per handler:
        live queue -----------------------------------------> handler (ORTHANC_STARTED,
                                                              DELETED, jobs, peers...)
        GET /changes?since=<read>&limit=100 -> wanted? -----> entry.invoke(event): inline on
                                                              this thread, or @offload: in the
                                                              pool, at most `window` at once
                                                              (runtime.registry.invoke)
        the cursor passes a change once its handler ended --> Checkpoints --> a global
                                                              property of Orthanc's database
    Orthanc's ingest thread --Hub.on_stored_instance(dicom, id)--> each listener's on_ingest: the
                                                              official plugin's style of
                                                              handler (it may read the
                                                              DicomInstance while it exists);
                                                              an offloaded handler's bytes,
                                                              kept for its event

So a burst never drops events (they wait in Orthanc's database, not in
memory), a stop drains what it can within ShutdownGrace and the rest is
delivered after the next start, and a ``kill -9`` loses nothing Orthanc
recorded: at worst a handler sees again the changes of the last moments
before the crash (at least once, never "at most once"). A handler that raises,
times out or crashes its worker has seen its change: the error is logged and
the cursor moves on, so that one bad change cannot stop a handler forever.
Changes of resources deleted before their handler ran leave the log with
them (Orthanc deletes them), and are not delivered.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pool import PoolClosed, PoolFull
from runtime import answers
from runtime.backends.executor import Executor
from runtime.callbacks.cluster import Cluster
from runtime.enums import ChangeType, ResourceType
from runtime.errors import OrthancException
from runtime.events import Change, StoredInstance
from runtime.registry import Registry
from runtime.registry.invoke import Binder, KeptBytes
from runtime.sdk import logs, transport
from runtime.sdk.properties import DurableProperty, PropertyId

PAGE = 100
"""Changes read from the log at once."""

FRESH_SECONDS = 10.0
INGEST_WAIT = 0.2
"""A stored instance's change logged within FRESH_SECONDS waits at most INGEST_WAIT seconds
for Orthanc's ingest callback to hand the master its file, for an offloaded handler's event
to take it along (runtime.registry.invoke.KeptBytes); an older one never waits."""

POLL = 2.0
"""Seconds between two reads of the log when no change wakes a feed (a safety net)."""

FLUSH_INTERVAL = 0.25
"""Seconds between two writes of the checkpoints: what a kill -9 may deliver twice."""

# The changes Orthanc records in its log, by the name it gives them there. The
# others (DELETED, NEW_CHILD_INSTANCE, ORTHANC_STARTED/STOPPED, UPDATED_PEERS,
# UPDATED_MODALITIES, JOB_*) exist only as they happen. The log has more types
# (ModifiedStudy...) that Orthanc does not signal to plugins: they are skipped.
LOGGED = {
    "CompletedSeries": ChangeType.COMPLETED_SERIES,
    "NewInstance": ChangeType.NEW_INSTANCE,
    "NewPatient": ChangeType.NEW_PATIENT,
    "NewSeries": ChangeType.NEW_SERIES,
    "NewStudy": ChangeType.NEW_STUDY,
    "StablePatient": ChangeType.STABLE_PATIENT,
    "StableSeries": ChangeType.STABLE_SERIES,
    "StableStudy": ChangeType.STABLE_STUDY,
    "UpdatedAttachment": ChangeType.UPDATED_ATTACHMENT,
    "UpdatedMetadata": ChangeType.UPDATED_METADATA,
}
LOGGED_TYPES = frozenset(LOGGED.values())
_LEVELS = {"Patient": ResourceType.PATIENT, "Study": ResourceType.STUDY,
           "Series": ResourceType.SERIES, "Instance": ResourceType.INSTANCE}


def _log(level: str, message: str) -> None:
    logs.write(level, message)


def _log_exception(where: str, error: BaseException) -> None:
    answers.log_exception(where, error, answers.new_error_id())


def _rest_get(uri: str) -> Any:
    answer = transport.call("RestApiGet", uri)
    return json.loads(answer)


def _handlers(saved: dict[str, Any]) -> dict[str, Any]:
    return {"handlers": {str(k): int(v) for k, v in saved["handlers"].items()}}


class Checkpoints:
    """Each handler's position in the change log, kept in one global property
    (runtime.sdk.properties: PropertyId.EVENT_CHECKPOINTS).

    Writes are coalesced (at most one every FLUSH_INTERVAL) and done at stop;
    the entries of handlers not loaded now are kept, so that a handler that
    comes back resumes where it was.
    """

    def __init__(self) -> None:
        self._property = DurableProperty(
            PropertyId.EVENT_CHECKPOINTS, version=1, empty=lambda: {"handlers": {}},
            validate=_handlers,
            if_unreadable="handlers without one start from the changes of this start")
        self._written = 0.0

    def get(self, name: str) -> int | None:
        with self._property.locked() as value:
            return value["handlers"].get(name)  # type: ignore[no-any-return]

    def advance(self, name: str, seq: int) -> None:
        with self._property.locked() as value:
            handlers = value["handlers"]
            if handlers.get(name, -1) >= seq:
                return
            handlers[name] = seq
            now = time.monotonic()
            due = now - self._written >= FLUSH_INTERVAL
            if due:
                self._written = now
        if due:
            self.flush()

    def flush(self) -> None:
        """Writes what changed; a failed write is logged and done again by the next flush."""
        self._property.save()

    def forget_cache(self) -> None:
        """The next get() reads the database again (a restart of the plugin)."""
        self._property.forget()



def _parse_date(text: str) -> float:
    """Orthanc's change dates are UTC, ``YYYYMMDDTHHMMSS``."""
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def first_position(started: float) -> int:
    """Where a handler without checkpoint starts: just before the changes of this start.

    Orthanc answers REST calls only once its plugins have started, and clients
    may store instances as soon as its HTTP server listens: so the position is
    found by date (1 s resolution, 2 s of margin), walking back from the end.
    """
    since = int(_rest_get("/changes?last")["Last"])
    while since > 0:
        low = max(0, since - 1000)
        changes = _rest_get(f"/changes?since={low}&limit={since - low}")["Changes"]
        older = [int(c["Seq"]) for c in changes if _parse_date(c["Date"]) < started - 2]
        if older:
            return max(older)
        since = low
    return 0


class Feed:
    """Delivers the change log to one handler, in order, at least once.

    ``read`` is the last change dispatched; ``ahead`` the changes read from the
    log after it, not yet dispatched (the rest of a page: the next page is read
    only when it is used up); offloaded changes still running are in
    ``in_flight``; the checkpoint is the last change before the first one not
    done (``blocked``: one the closing pool refused, never passed in this run).
    """

    def __init__(self, hub: Hub, name: str, wants: Callable[[ChangeType, ResourceType], bool],
                 invoke: Callable[[Any], concurrent.futures.Future[Any]], stored: bool) -> None:
        self.hub = hub
        self.name = name
        self.wants = wants
        self.invoke = invoke  # the handler's invoker: a future that ends when it does
        self.stored = stored
        self.live: collections.deque[Change] = collections.deque()
        self.wake = threading.Event()
        self.read: int | None = None
        self.ahead: collections.deque[dict[str, Any]] = collections.deque()
        self.in_flight: dict[int, concurrent.futures.Future[Any]] = {}
        self.blocked: int | None = None
        self.delivered = 0
        self.failed = 0
        self.changes_read = 0  # from the log: each change once, unless the feed starts again
        self.oldest_pending: str | None = None  # the date of the first change not yet done
        self.thread: threading.Thread | None = None

    # -- the thread --

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"orthanc-runtime-events:{self.name}")
        self.thread.start()

    def _run(self) -> None:
        while not self.hub.stopping.is_set():
            self._deliver_live()
            if not self.hub.started.is_set():
                # Orthanc refuses database calls until it has started (and logs each at
                # ERROR): the checkpoint and the log wait for ORTHANC_STARTED, which wakes us.
                self._wait(POLL)
                continue
            try:
                more = self._read_log()
            except OrthancException as error:
                # While Orthanc stops, or an error of its database.
                if not self.hub.stopping.is_set():
                    _log("warning", f"orthanc-runtime: {self.name}: reading the change log "
                         f"failed ({error}); trying again")
                    self._wait(1.0)
                self._wait(0.2)
                continue
            except Exception as error:
                _log_exception(f"orthanc-runtime: {self.name}: the event feed", error)
                self._wait(1.0)
                continue
            if not more:
                self._wait(POLL)
        self._deliver_live()
        # Offloaded changes still running get until the stop's deadline to end.
        if self.in_flight:
            concurrent.futures.wait(list(self.in_flight.values()),
                                    timeout=max(0.0, self.hub.deadline - time.monotonic()))
        self._settle()

    def _wait(self, seconds: float) -> None:
        self.wake.wait(seconds)
        self.wake.clear()

    def caught_up(self, target: int) -> bool:
        return (self.read is not None and self.read >= target and not self.in_flight
                and not self.live)

    # -- the log --

    def _read_log(self) -> bool:
        """Dispatches the changes read ahead, or else one page of the log, until the window
        of offloaded changes is full; True if there is more to do at once."""
        if self.read is None:
            self.read = self._start_position()
        self._settle()
        if self.blocked is not None:
            return False  # the pool is closing: wait for the stop
        if len(self.in_flight) >= self.hub.window:  # only offloaded changes stay in flight
            self._wait_in_flight()
            return True
        full_page = True
        if not self.ahead:
            page = _rest_get(f"/changes?since={self.read}&limit={PAGE}")
            self.ahead.extend(page.get("Changes", []))
            self.changes_read += len(self.ahead)
            self.hub.seen_last = max(self.hub.seen_last, int(page.get("Last", 0)))
            full_page = len(self.ahead) >= PAGE
        while self.ahead:
            if self.hub.stopping.is_set() or not self._dispatch(self.ahead[0]):
                break
            self.ahead.popleft()
            if len(self.in_flight) >= self.hub.window:
                return True
        self._settle()
        return full_page

    def _start_position(self) -> int:
        saved = self.hub.checkpoints.get(self.name)
        if saved is not None:
            return saved
        position = first_position(self.hub.started_at)
        _log("info", f"orthanc-runtime: {self.name} has no checkpoint yet: it starts after "
             f"change {position}, the last one before this start")
        self.hub.checkpoints.advance(self.name, position)
        return position

    def _dispatch(self, entry: dict[str, Any]) -> bool:
        """Hands one change of the log to the handler if it wants it; False to stop reading."""
        seq = int(entry["Seq"])
        change_type = LOGGED.get(entry.get("ChangeType", ""))
        level = _LEVELS.get(entry.get("ResourceType", ""))
        if change_type is not None and level is not None and self.wants(change_type, level):
            if self.oldest_pending is None:
                self.oldest_pending = entry.get("Date")
            event: Change | StoredInstance
            if self.stored:
                if self.hub.cluster.index is None and \
                        _parse_date(entry.get("Date", "")) > time.time() - FRESH_SECONDS:
                    # A change logged just now: Orthanc's ingest callback, which hands the
                    # master the file, may run a moment after the change is readable. On a
                    # shared index the change may be another server's, whose file never
                    # comes here: no wait (the worker reads what was not kept from Orthanc).
                    self.hub.kept.wait_for(entry["ID"], INGEST_WAIT)
                event = StoredInstance(entry["ID"], seq=seq)
            else:
                event = Change(change_type, level, entry.get("ID"), seq)
            if not self._submit(seq, event):
                self.blocked = seq
                return False
        self.read = seq
        if not self.in_flight:
            self.oldest_pending = None
            self.hub.checkpoints.advance(self.name, seq)
        return True

    def _submit(self, seq: int, event: Change | StoredInstance) -> bool:
        """Hands a change to the handler (an inline one has run when this returns); False if
        the pool is closing."""
        while not self.hub.stopping.is_set():
            try:
                future = self.invoke(event)
            except PoolFull:  # routes fill the queue too: wait for room, never drop
                self._wait_in_flight(0.05)
                continue
            except (PoolClosed, RuntimeError):
                return False
            if future.done():  # it ran here
                self._report(future, event)
                return True
            future.add_done_callback(lambda _f: self.wake.set())
            future.add_done_callback(functools.partial(self._report, event=event))
            self.in_flight[seq] = future
            return True
        return False

    def _report(self, future: concurrent.futures.Future[Any],
                event: Change | StoredInstance) -> None:
        error = future.exception()
        if error is None:
            self.delivered += 1
        elif not isinstance(error, PoolClosed):
            self.failed += 1
            _log_exception(_describe(self.name, event), error)

    def _wait_in_flight(self, timeout: float = 1.0) -> None:
        if self.in_flight:
            concurrent.futures.wait(list(self.in_flight.values()), timeout=timeout,
                                    return_when=concurrent.futures.FIRST_COMPLETED)
        else:
            self._wait(timeout)
        self._settle()

    def _settle(self) -> None:
        """Forgets the offloaded changes that ended and moves the checkpoint past what is done."""
        for seq in [s for s, f in self.in_flight.items() if f.done()]:
            if isinstance(self.in_flight.pop(seq).exception(), PoolClosed):
                self.blocked = seq if self.blocked is None else min(self.blocked, seq)
        if self.read is None:
            return
        first_not_done = min([*self.in_flight, self.read + 1,
                              *([self.blocked] if self.blocked is not None else [])])
        if not self.in_flight:
            self.oldest_pending = None
        self.hub.checkpoints.advance(self.name, first_not_done - 1)

    # -- live events --

    def _deliver_live(self) -> None:
        while self.live:
            change = self.live.popleft()
            try:
                future = self.invoke(change)
                future.add_done_callback(functools.partial(self._report, event=change))
            except Exception as error:
                self.failed += 1
                _log_exception(_describe(self.name, change), error)

    def status(self) -> dict[str, Any]:
        position = self.hub.checkpoints.get(self.name) if self.read is not None else None
        behind = max(0, self.hub.seen_last - position) if position is not None else None
        age = None
        if self.oldest_pending:
            age = round(max(0.0, time.time() - _parse_date(self.oldest_pending)), 1)
        return {"handler": self.name, "checkpoint": position, "behind": behind,
                "in_flight": len(self.in_flight), "oldest_pending_age_s": age,
                "delivered": self.delivered, "failed": self.failed,
                "changes_read": self.changes_read}


def _describe(name: str, event: Change | StoredInstance) -> str:
    if isinstance(event, StoredInstance):
        return f"{name} (on-stored-instance {event.id})"
    return f"{name} (on-change {event.type.name} {event.level.name} {event.resource_id})"


class Hub:
    """Every feed of the loaded script, started and stopped together: the events of one start
    of the plugin (runtime.plugin.session owns it), with their checkpoints."""

    def __init__(self, handlers: Registry, executor: Executor, kept: KeptBytes,
                 cluster: Cluster | None = None) -> None:
        self.handlers = handlers
        self.executor = executor
        self.kept = kept  # the files Orthanc handed at ingest, for offloaded handlers
        self.cluster = cluster or Cluster()  # which handlers this server runs
        self.checkpoints = Checkpoints()
        self.feeds: list[Feed] = []
        self.stopping = threading.Event()
        self.started = threading.Event()  # ORTHANC_STARTED was seen
        self.started_at = time.time()
        self.seen_last = 0  # the highest change number seen in the log
        self.window = 4  # offloaded changes a feed may have running at once
        self.deadline = 0.0  # time.monotonic() by which a stop must be done

    def start(self, *, orthanc_starts: bool = True) -> None:
        """Starts a feed per handler; ``orthanc_starts`` False for a reload of the scripts,
        when Orthanc runs already and says ORTHANC_STARTED no more."""
        self.stopping.clear()
        if orthanc_starts:
            self.started.clear()
        self.started_at = time.time()
        self.seen_last = 0
        self.checkpoints.forget_cache()
        pool = self.executor.current()
        if pool is not None:
            self.window = max(2, pool.workers * 2)
        runs = self.cluster.runs
        self.feeds = [Feed(self, x.name, x.wants, _bound(x.invoke), stored=False)
                      for x in self.handlers.change_listeners if runs(x.name)]
        self.feeds += [Feed(self, x.name, _wants_new_instance, x.invoke, stored=True)
                       for x in self.handlers.stored_listeners
                       if x.invoke is not None and runs(x.name)]
        for feed in self.feeds:
            feed.start()

    def signal(self, change_type: int, level: int, resource_id: str | None) -> None:
        """From Orthanc's change thread: wake the feeds, or queue a live event."""
        try:
            kind = ChangeType(change_type)
            resource = ResourceType(level)
        except ValueError:
            return  # a change type newer than this runtime knows
        if kind == ChangeType.ORTHANC_STARTED:
            self.started.set()
            for feed in self.feeds:
                feed.wake.set()  # the feeds may read their checkpoints now
        if kind in LOGGED_TYPES:
            for feed in self.feeds:
                feed.wake.set()
            return
        change = Change(kind, resource, resource_id)
        for feed in self.feeds:
            if not feed.stored and feed.wants(kind, resource):
                feed.live.append(change)
                feed.wake.set()

    def drain(self, deadline: float) -> bool:
        """Delivers the log up to its current end, until ``deadline``; True if all was."""
        if not self.feeds:
            return True
        try:
            target = int(_rest_get("/changes?last")["Last"])
        except Exception:  # Orthanc no longer answers: what is left waits for the next start
            self.checkpoints.flush()
            return False
        while time.monotonic() < deadline:
            for feed in self.feeds:
                feed.wake.set()
            if all(feed.caught_up(target) for feed in self.feeds):
                self.checkpoints.flush()
                return True
            time.sleep(0.02)
        self.checkpoints.flush()
        return False

    def stop(self, deadline: float) -> None:
        """Stops the feeds; what they did not deliver stays in the log for the next start."""
        self.deadline = deadline
        self.stopping.set()
        for feed in self.feeds:
            feed.wake.set()
        for feed in self.feeds:
            if feed.thread is not None:
                feed.thread.join(max(0.0, deadline - time.monotonic()))
        self.checkpoints.flush()
        for feed in self.feeds:
            position = self.checkpoints.get(feed.name)
            if position is not None and position < self.seen_last:
                _log("warning", f"orthanc-runtime: {feed.name} stops at change {position} of "
                     f"{self.seen_last}; the rest is delivered after the next start")
        self.feeds = []

    def refresh_last(self) -> None:
        """Reads the end of the log, for a status that says how far behind each handler is."""
        if self.feeds:
            try:
                self.seen_last = max(self.seen_last, int(_rest_get("/changes?last")["Last"]))
            except Exception:
                pass  # the status shows what was last seen

    def status(self) -> list[dict[str, Any]]:
        return [feed.status() for feed in self.feeds]

    def on_stored_instance(self, dicom: Any, instance_id: str) -> None:
        """Orthanc's ingest thread: what each handler does while the DicomInstance exists (an
        official-style handler runs; an offloaded one's bytes are kept for its event)."""
        for listener in self.handlers.stored_listeners:
            on_ingest = listener.on_ingest
            if on_ingest is None:
                continue
            try:
                on_ingest(dicom, instance_id)
            except Exception as error:
                _log_exception(f"{listener.name} (on-stored-instance {instance_id})", error)


def _bound(invoke: Callable[..., Any] | None) -> Callable[..., Any]:
    if invoke is None:
        raise RuntimeError("an event handler was not bound: runtime.callbacks.changes.bind")
    return invoke


def bind(handlers: Registry, binder: Binder, cluster: Cluster | None = None) -> None:
    """Binds each event handler's invoker (runtime.registry.invoke), once, at registration;
    a decorated on-stored-instance handler that another server runs (``cluster``) keeps no
    bytes at ingest here."""
    for listener in handlers.change_listeners:
        binder.bind(listener, "event")
    runs = (cluster or Cluster()).runs
    here = [x for x in handlers.stored_listeners if x.adapter is not None or runs(x.name)]
    for elsewhere in handlers.stored_listeners:
        if elsewhere not in here:
            elsewhere.invoke = elsewhere.on_ingest = None
    binder.bind_stored(here)


def from_the_log(handlers: Registry) -> list[str]:
    """The names of the handlers fed from the change log: the ones ``Cluster.EventHandlers``
    gives to servers (an official-style on-stored-instance callback runs at ingest, on the
    server that received the instance)."""
    return [x.name for x in handlers.change_listeners] + \
        [x.name for x in handlers.stored_listeners if x.adapter is None]


def wants_ingest(handlers: Registry) -> bool:
    """Whether a handler has something to do on Orthanc's ingest thread (then the plugin
    registers OnStoredInstance with Orthanc)."""
    return any(x.on_ingest is not None for x in handlers.stored_listeners)


def _wants_new_instance(change_type: ChangeType, level: ResourceType) -> bool:
    return change_type == ChangeType.NEW_INSTANCE

