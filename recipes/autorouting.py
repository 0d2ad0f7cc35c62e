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

    Orthanc change thread -> runtime's change queue -> on_event(): puts the resource
                                                       in Router.inbox, returns at once
    Router thread (one, started at ORTHANC_STARTED, stopped at ORTHANC_STOPPED):
        inbox -> tags of the resource -> matching rules -> one Delivery per destination
        Delivery due -> POST /{modalities|peers}/{name}/store -> job id
        every PollInterval s, or at once on JOB_SUCCESS/JOB_FAILURE: GET /jobs/{id}
            Success -> sent;  Failure -> due again after the back-off, or failed
    Orthanc HTTP thread -> GET /recipes/auto-routing/status -> a snapshot, under the lock

The deliveries live in memory: Orthanc's jobs outlive a restart, the status
list does not.
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

    @property
    def key(self) -> tuple[str, str]:
        return self.resource, str(self.destination)

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
        self.start()
        self._wake.set()

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
            "pending": pending,
            "sent": sent,
            "failed": failed,
        }

    # the thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception as error:  # the thread must outlive any one failure
                sdk.log.error(f"auto-routing: {type(error).__name__}: {error}")
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float | None:
        with self._lock:
            if self._inbox:
                return 0.0
            if any(d.job is not None for d in self._pending.values()):
                return plan().poll_interval
            dues = [d.due for d in self._pending.values()]
        return max(0.0, min(dues) - time.monotonic()) if dues else None

    def _step(self) -> None:
        current = plan()
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
        for rule in current.rules:
            if not rule.matches(tags):
                continue
            for destination in rule.destinations:
                self._plan_delivery(Delivery(resource_id, level, destination, rule.name))

    def _plan_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            existing = self._pending.get(delivery.key)
            if existing is not None:
                # Already on its way: send once more when this attempt ends, so that
                # what arrived since the job started goes too.
                existing.again = existing.again or existing.job is not None
                return
            self._pending[delivery.key] = delivery

    def _send(self, current: Plan, delivery: Delivery) -> None:
        with self._lock:
            delivery.attempts += 1
        body = {"Resources": [delivery.resource], "Asynchronous": True}
        try:
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
            sdk.log.error(f"auto-routing: gave up sending the {what} after {delivery.attempts} "
                          f"attempt(s): {reason}")

    def _finish(self, delivery: Delivery) -> None:
        """Moves a delivery to the history (the lock is held); a new one if it is wanted again."""
        del self._pending[delivery.key]
        self._done.append(delivery)
        if delivery.again:
            self._pending[delivery.key] = Delivery(delivery.resource, delivery.level,
                                                   delivery.destination, delivery.rule)


router = Router()


# -- the handlers ------------------------------------------------------------------------------------

_LEVEL_OF_CHANGE = {ChangeType.STABLE_STUDY: "Study", ChangeType.STABLE_SERIES: "Series"}


@on_change(ChangeType.STABLE_STUDY, ChangeType.STABLE_SERIES, ChangeType.JOB_SUCCESS,
           ChangeType.JOB_FAILURE, ChangeType.ORTHANC_STARTED, ChangeType.ORTHANC_STOPPED)
def on_event(change: Change) -> None:
    """Hands the event to the router's thread; never waits on Orthanc."""
    if change.type == ChangeType.ORTHANC_STARTED:
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
