"""Auto-routing: send each stable study (or series) to the modalities and peers its rules name.

    "PythonRuntime": {"Recipes": {"AutoRouting": {
      "Enabled": true,
      "Rules": [
        {"Name": "CT to the PACS", "Match": {"Modality": "CT"}, "Modalities": ["pacs"]},
        {"Name": "research copy", "MatchRegex": {"StudyDescription": "(?i).*research.*"},
         "Peers": ["research"]}],
      "Retries": 5, "RetryDelay": 10}}}

    curl http://localhost:8042/recipes/auto-routing/status

When Orthanc says a study is stable (``STABLE_STUDY``; ``"Level": "Series"``
routes series on ``STABLE_SERIES``), each rule whose filters all match sends
it to each of its destinations: DICOM modalities of ``DicomModalities``
(C-STORE) and Orthanc peers of ``OrthancPeers``. ``Match`` holds shell-style
patterns (``*``, ``?``, ``[...]``; case-insensitive), ``MatchRegex`` Python
regular expressions that must match the whole value, both keyed by DICOM
keyword; a rule without filters matches everything. A tag is looked up in the
resource's main tags (patient, study, and its series: a study matches
``Modality`` ``CT`` when one of its series is CT), then in the simplified tags
of one of its instances.

The sending is Orthanc's: an asynchronous store job (``"Asynchronous": true``),
which Orthanc's job engine runs and keeps across a restart. The recipe follows
each job, logs its success or failure with the resource and the destination,
and sends again a failed one after ``RetryDelay`` seconds, doubling up to
``RetryMaxDelay``, at most ``Retries`` times. ``GET /recipes/auto-routing/status``
lists the deliveries pending, sent and failed, with the reason of each failure.

Threads, and who does what::

    the runtime's feed of Orthanc's change log (durable, at least once) -> on_event():
        NEW_INSTANCE: its study (or series) is pending, in the journal
        STABLE_STUDY / STABLE_SERIES: puts the resource in Router.inbox, returns at once
    Router thread (one, started at ORTHANC_STARTED, stopped at ORTHANC_STOPPED):
        at start: the journal's pending resources wait until their LastUpdate is
            StableAge old (Orthanc forgets, across a restart, what was not stable yet)
        every StableAge s: a resource pending for 2 x StableAge + 5 s without its stable
            event waits the same way (the server of a cluster that received its
            instances, and alone would have said it is stable, stopped meanwhile)
        inbox -> tags of the resource -> matching rules -> one Delivery per destination
            not already sent with this content (the journal's "sent")
        Delivery due -> POST /{modalities|peers}/{name}/store -> job id
        every PollInterval s, or at once on JOB_SUCCESS/JOB_FAILURE: GET /jobs/{id}
            Success -> sent;  Failure -> due again after the back-off, or failed
    Orthanc HTTP thread -> GET /recipes/auto-routing/status -> a snapshot, under the lock

What must survive a restart is in the journal (recipes.routing_journal, in
Orthanc's database): the pending resources, the store jobs under way (followed
again after a start) and what was sent (not sent again). The status route's
history of deliveries lives in memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from recipes import settings
from recipes.routing_journal import Journal
from recipes.routing_rules import Destination, Plan, compile_settings, resource_tags
from runtime import Change, ChangeType, OrthancError, Request, config, on_change, route, sdk

CONFIG_KEY = "AutoRouting"

STATUS_ROUTE = "/recipes/auto-routing/status"
_FAILURES_KEPT = 10


_overrides: dict[str, Any] = {}
_plan: Plan | None = None
_plan_lock = threading.Lock()


def configure(**overrides: Any) -> None:
    """Overrides settings of the configuration from a script, for instance the rules::

        from recipes import autorouting
        autorouting.configure(Rules=[{"Match": {"Modality": "MR"}, "Peers": ["backup"]}])

    The keys are those of ``Recipes.AutoRouting``; they are checked at once.
    """
    global _plan
    with _plan_lock:
        merged = {**_overrides, **overrides}
        if config:  # in a worker's fork server there is nothing to check against yet
            compile_settings({**settings(CONFIG_KEY), **merged})
        _overrides.update(merged)
        _plan = None


def plan() -> Plan:
    """The settings in force: the configuration's, with the script's overrides."""
    global _plan
    with _plan_lock:
        if _plan is None:
            _plan = compile_settings({**settings(CONFIG_KEY), **_overrides})
        return _plan


# -- deliveries ------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Delivery:
    """One resource to one destination: its attempts, its current job, its failures."""

    resource: str
    level: str
    destination: Destination
    rule: str
    state: Literal["pending", "sent", "failed"] = "pending"
    attempts: int = 0
    job: str | None = None
    due: float = 0.0  # time.monotonic() of the next attempt, when no job is running
    again: bool = False  # the resource became stable again while being sent
    instances: int | None = None
    reason: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    updated: str = field(default_factory=_now)
    last_update: str | None = None  # the resource's LastUpdate when it was sent

    @property
    def key(self) -> tuple[str, str]:
        return self.resource, str(self.destination)

    @property
    def journal_key(self) -> str:
        return f"{self.resource}|{self.destination}"

    def public(self) -> dict[str, Any]:
        """What the status route shows."""
        waiting = self.state == "pending" and self.job is None
        return {
            "resource": self.resource,
            "level": self.level,
            "destination": str(self.destination),
            "rule": self.rule,
            "state": self.state,
            "attempts": self.attempts,
            "job": self.job,
            "instances": self.instances,
            "reason": self.reason,
            "failures": list(self.failures),
            "next_attempt_in": round(max(0.0, self.due - time.monotonic()), 1) if waiting else None,
            "updated": self.updated,
        }


class Router:
    """The recipe's thread: matches stable resources to rules, sends them, follows the jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._inbox: deque[tuple[str, str]] = deque()
        self._pending: dict[tuple[str, str], Delivery] = {}
        self._done: deque[Delivery] = deque(maxlen=1000)
        # Resources pending at the last stop, or long without their stable event:
        # resource -> (level, time.time() to look again).
        self._waiting: dict[str, tuple[str, float]] = {}
        self._next_sweep = 0.0  # time.time() of the next look for overdue resources
        self.journal = Journal()

    # called from other threads ------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                return
            self._done = deque(self._done, maxlen=plan().history)
            self._thread = threading.Thread(target=self._run, name="auto-routing", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            pending = len(self._pending) + len(self._inbox)
        if pending:
            sdk.log.warning(f"auto-routing: stopping with {pending} delivery(ies) pending; "
                            "the store jobs already submitted are Orthanc's to finish")

    def route(self, level: str, resource_id: str) -> None:
        """Queues a stable resource; the thread does the rest."""
        with self._lock:
            self._inbox.append((level, resource_id))
            self._waiting.pop(resource_id, None)
        self.start()
        self._wake.set()

    def received(self, level: str, resource_id: str) -> None:
        """A resource received an instance: it is pending until routed, even across a restart."""
        self.journal.mark_pending(resource_id, level)

    def poke(self) -> None:
        """A job ended: look at the jobs now rather than at the next poll."""
        self._wake.set()

    def status(self) -> dict[str, Any]:
        current = plan()
        with self._lock:
            pending = [d.public() for d in self._pending.values()]
            done = [d.public() for d in self._done]
            queued = len(self._inbox)
        sent = [d for d in done if d["state"] == "sent"]
        failed = [d for d in done if d["state"] == "failed"]
        return {
            "level": current.level,
            "rules": [{"name": r.name, "destinations": [str(d) for d in r.destinations]}
                      for r in current.rules],
            "counts": {"queued": queued, "pending": len(pending), "sent": len(sent),
                       "failed": len(failed)},
            "journal": self.journal.counts(),
            "pending": pending,
            "sent": sent,
            "failed": failed,
        }

    # the thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._recover()
                break
            except Exception as error:  # Orthanc not answering yet: try again
                sdk.log.warning(f"auto-routing: cannot read the journal yet: {error}")
                self._stopping.wait(1.0)
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception as error:  # the thread must outlive any one failure
                sdk.log.error(f"auto-routing: {type(error).__name__}: {error}")
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _recover(self) -> None:
        """The resources pending at the last stop: routed once they are StableAge old."""
        self.journal.load()
        now = time.time()
        with self._lock:
            for resource, level in self.journal.pending().items():
                if resource not in self._waiting and \
                        not any(d.resource == resource for d in self._pending.values()):
                    self._waiting[resource] = (level, now)
        if self._waiting:
            sdk.log.info(f"auto-routing: {len(self._waiting)} resource(s) were pending at the "
                         "last stop; each is routed once stable")

    def _sweep(self) -> None:
        """Resources pending for long without their stable event wait for their LastUpdate to
        be StableAge old, as after a restart.

        Orthanc says a resource is stable on the server that received its instances, from
        memory: when that server stops first (another server on a shared database, killed),
        the event never comes. One look every StableAge; the margin leaves the usual case to
        Orthanc's own event.
        """
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + max(1.0, _stable_age())
        overdue = now - 2 * _stable_age() - SWEEP_MARGIN
        with self._lock:
            busy = {d.resource for d in self._pending.values()} | set(self._waiting) | \
                {r for _, r in self._inbox}
        late = {r: level for r, (level, since) in self.journal.pending_since().items()
                if since <= overdue and r not in busy}
        if not late:
            return
        with self._lock:
            for resource, level in late.items():
                self._waiting.setdefault(resource, (level, now))
        sdk.log.info(f"auto-routing: {len(late)} resource(s) pending for more than "
                     f"{2 * _stable_age() + SWEEP_MARGIN:g} s without a stable event; each is "
                     "routed once its last instance is StableAge old")

    def _next_wait(self) -> float | None:
        sweep = [max(0.0, self._next_sweep - time.time())] if self.journal.counts()["pending"] \
            else []
        with self._lock:
            if self._inbox:
                return 0.0
            if any(d.job is not None for d in self._pending.values()):
                return plan().poll_interval
            dues = [d.due for d in self._pending.values()]
            looks = [at - time.time() for _, at in self._waiting.values()] + sweep
        waits = [max(0.0, due - time.monotonic()) for due in dues] + [max(0.0, x) for x in looks]
        return min(waits) if waits else None

    def _look_at_waiting(self) -> None:
        """Routes the waiting resources whose last instance is StableAge old."""
        now = time.time()
        with self._lock:
            due = [(r, level) for r, (level, at) in self._waiting.items() if at <= now]
        for resource, level in due:
            try:
                info = sdk.rest_get(f"/{_COLLECTION[level]}/{resource}")
            except OrthancError as error:
                if error.status == 404:  # deleted meanwhile: nothing to route
                    with self._lock:
                        self._waiting.pop(resource, None)
                    self.journal.done_with(resource)
                continue
            stable_at = _timestamp(info.get("LastUpdate", "")) + _stable_age()
            with self._lock:
                if resource not in self._waiting:
                    continue
                if stable_at <= now:
                    del self._waiting[resource]
                    self._inbox.append((level, resource))
                else:
                    self._waiting[resource] = (level, stable_at)

    def _step(self) -> None:
        current = plan()
        self._sweep()
        self._look_at_waiting()
        while not self._stopping.is_set():
            with self._lock:
                if not self._inbox:
                    break
                level, resource_id = self._inbox.popleft()
            self._match(current, level, resource_id)
        with self._lock:
            deliveries = list(self._pending.values())
        for delivery in deliveries:
            if self._stopping.is_set():
                return
            if delivery.job is not None:
                self._follow(current, delivery)
            elif delivery.due <= time.monotonic():
                self._send(current, delivery)

    def _match(self, current: Plan, level: str, resource_id: str) -> None:
        wanted = set().union(*(rule.tags for rule in current.rules))
        try:
            tags = resource_tags(level, resource_id, wanted)
        except OrthancError as error:
            sdk.log.warning(f"auto-routing: cannot read the {level.lower()} {resource_id}: {error}")
            return
        last_update = _last_update(level, resource_id)
        for rule in current.rules:
            if not rule.matches(tags):
                continue
            for destination in rule.destinations:
                self._plan_delivery(Delivery(resource_id, level, destination, rule.name,
                                             last_update=last_update))
        self._forget_if_done(resource_id)

    def _plan_delivery(self, delivery: Delivery) -> None:
        key = delivery.journal_key
        if self.journal.already_sent(key, delivery.last_update):
            sdk.log.info(f"auto-routing: the {self._what(delivery)} was already sent as it is "
                         "now; not sending it again")
            return
        job = self.journal.job_of(key)
        with self._lock:
            existing = self._pending.get(delivery.key)
            if existing is not None:
                # Already on its way: send once more when this attempt ends if instances
                # arrived since the job started (the same study announced twice, by a
                # restart's recovery and a redelivered event, is not sent twice).
                changed = delivery.last_update != existing.last_update
                existing.again = existing.again or (existing.job is not None and changed)
                return
            if job is not None:  # sent before a restart: follow that job
                delivery.job, delivery.attempts = job, 1
            self._pending[delivery.key] = delivery

    def _forget_if_done(self, resource: str) -> None:
        """The resource is no longer pending once none of its deliveries is."""
        with self._lock:
            busy = any(d.resource == resource for d in self._pending.values()) or \
                resource in self._waiting or any(r == resource for _, r in self._inbox)
        if not busy:
            self.journal.done_with(resource)

    def _send(self, current: Plan, delivery: Delivery) -> None:
        with self._lock:
            delivery.attempts += 1
        body = {"Resources": [delivery.resource], "Asynchronous": True}
        try:
            delivery.last_update = _last_update(delivery.level, delivery.resource)
            answer = sdk.rest_post(delivery.destination.store_uri, body)
        except OrthancError as error:
            self._failed(current, delivery, error.message)
            return
        except Exception as error:  # counted as an attempt, so that it cannot spin
            self._failed(current, delivery, f"{type(error).__name__}: {error}")
            return
        with self._lock:
            delivery.job = str(answer["ID"])
            delivery.updated = _now()
        self.journal.job_started(delivery.journal_key, delivery.job, delivery.last_update)
        sdk.log.info(f"auto-routing: sending the {self._what(delivery)} (attempt "
                     f"{delivery.attempts}, job {delivery.job})")

    def _follow(self, current: Plan, delivery: Delivery) -> None:
        try:
            job = sdk.rest_get(f"/jobs/{delivery.job}")
        except OrthancError as error:
            if error.status == 404:
                self._failed(current, delivery, f"the job {delivery.job} is gone from Orthanc")
            return
        state = job.get("State")
        if state == "Success":
            self._sent(delivery, job)
        elif state == "Failure":
            details = job.get("ErrorDetails") or ""
            reason = job.get("ErrorDescription") or "the store job failed"
            self._failed(current, delivery, f"{reason}: {details}" if details else reason)

    def _what(self, delivery: Delivery) -> str:
        return f"{delivery.level.lower()} {delivery.resource} to {delivery.destination}"

    def _sent(self, delivery: Delivery, job: Mapping[str, Any]) -> None:
        count = job.get("Content", {}).get("InstancesCount")
        with self._lock:
            delivery.state = "sent"
            delivery.instances = count
            delivery.reason = None  # the failures before it stay in failures
            delivery.updated = _now()
            self._finish(delivery)
        self.journal.sent(delivery.journal_key, delivery.job)
        self._forget_if_done(delivery.resource)
        sdk.log.info(f"auto-routing: sent the {self._what(delivery)} ({count} instance(s), "
                     f"job {delivery.job}, rule {delivery.rule!r})")

    def _failed(self, current: Plan, delivery: Delivery, reason: str) -> None:
        with self._lock:
            delivery.failures.append({"attempt": delivery.attempts, "job": delivery.job,
                                      "reason": reason, "at": _now()})
            del delivery.failures[:-_FAILURES_KEPT]
            delivery.reason = reason
            delivery.job = None
            delivery.updated = _now()
            retry = delivery.attempts <= current.retries
            if retry:
                delay = current.delay(delivery.attempts)
                delivery.due = time.monotonic() + delay
            else:
                delivery.state = "failed"
                self._finish(delivery)
        what = self._what(delivery)
        if retry:
            sdk.log.warning(f"auto-routing: sending the {what} failed (attempt "
                            f"{delivery.attempts} of {current.retries + 1}): {reason}; "
                            f"next attempt in {delay:g} s")
        else:
            self.journal.gave_up(delivery.journal_key)
            self._forget_if_done(delivery.resource)
            sdk.log.error(f"auto-routing: gave up sending the {what} after {delivery.attempts} "
                          f"attempt(s): {reason}")

    def _finish(self, delivery: Delivery) -> None:
        """Moves a delivery to the history (the lock is held); a new one if it is wanted again."""
        del self._pending[delivery.key]
        self._done.append(delivery)
        if delivery.again:
            self._pending[delivery.key] = Delivery(delivery.resource, delivery.level,
                                                   delivery.destination, delivery.rule)


_COLLECTION = {"Study": "studies", "Series": "series"}
SWEEP_MARGIN = 5.0
"""Seconds past twice StableAge before a pending resource is looked at without its event."""
_stable_age_cache: list[float] = []


def _stable_age() -> float:
    """Orthanc's StableAge: seconds without a new instance before a resource is stable."""
    if not _stable_age_cache:
        _stable_age_cache.append(float(sdk.configuration().get("StableAge", 60)))
    return _stable_age_cache[0]


def _timestamp(text: str) -> float:
    """Orthanc's LastUpdate (``YYYYMMDDTHHMMSS``, UTC) as a time.time() value."""
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _last_update(level: str, resource: str) -> str | None:
    return sdk.rest_get(f"/{_COLLECTION[level]}/{resource}").get("LastUpdate")  # type: ignore[no-any-return]


router = Router()


# -- the handlers ------------------------------------------------------------------------------------

_LEVEL_OF_CHANGE = {ChangeType.STABLE_STUDY: "Study", ChangeType.STABLE_SERIES: "Series"}


@on_change(ChangeType.NEW_INSTANCE, ChangeType.STABLE_STUDY, ChangeType.STABLE_SERIES,
           ChangeType.JOB_SUCCESS, ChangeType.JOB_FAILURE, ChangeType.ORTHANC_STARTED,
           ChangeType.ORTHANC_STOPPED)
def on_event(change: Change) -> None:
    """Hands the event to the router's thread; waits on Orthanc only to mark a resource pending."""
    if change.type == ChangeType.NEW_INSTANCE:
        level = plan().level
        try:
            parent = sdk.rest_get(f"/instances/{change.resource_id}/{level.lower()}")["ID"]
        except OrthancError as error:
            if error.status == 404:
                return  # deleted since: nothing to route
            raise  # the runtime logs it with the handler's name
        router.received(level, parent)
    elif change.type == ChangeType.ORTHANC_STARTED:
        router.start()
    elif change.type == ChangeType.ORTHANC_STOPPED:
        router.stop()
    elif change.type in (ChangeType.JOB_SUCCESS, ChangeType.JOB_FAILURE):
        router.poke()
    elif change.resource_id and _LEVEL_OF_CHANGE[change.type] == plan().level:
        router.route(_LEVEL_OF_CHANGE[change.type], change.resource_id)


@route(STATUS_ROUTE)
def status(request: Request) -> dict[str, Any]:
    """``GET /recipes/auto-routing/status``: the deliveries pending, sent and failed."""
    return router.status()


# In the master the configuration is installed before this module is imported: a bad
# rule stops Orthanc's start-up here, naming the setting. In a worker's fork server it
# is not installed yet, and nothing of this recipe runs in a worker anyway.
if config:
    plan()
