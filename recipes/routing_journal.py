"""What auto-routing must remember across a restart, kept in Orthanc's database.

Orthanc raises ``STABLE_STUDY`` once, in memory: a study that was not stable
yet when Orthanc stopped (SIGTERM, ``kill -9``, ``/tools/reset``) is never
announced as stable after the start. And a stable study redelivered after a
restart (events are delivered at least once) must not be sent twice. So the
recipe writes down, in one global property of Orthanc's database
(``sdk.PropertyId.ROUTING_JOURNAL``, through ``sdk.DurableProperty``):

- ``pending``: the resources that received instances and are not routed yet
  (written when a resource first becomes pending, before the change that made
  it pending is acknowledged: a crash cannot lose it);
- ``jobs``: the store job of each delivery under way, followed again after a
  restart instead of sending anew;
- ``sent``: each delivery done, with the resource's ``LastUpdate`` when it was
  sent: the same content is not sent again, new instances are.

Writes are synchronous and happen a few times per resource, not per instance. A
write that fails is logged and done again with the next change.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from runtime import sdk

PARTS = ("pending", "jobs", "sent")


def _journal(saved: dict[str, Any]) -> dict[str, Any]:
    return {part: dict(saved.get(part, {})) for part in PARTS}


class Journal:
    """The durable state of auto-routing; every method is thread-safe."""

    def __init__(self, keep: int = 1000) -> None:
        self._property = sdk.DurableProperty(
            sdk.PropertyId.ROUTING_JOURNAL, version=1,
            empty=lambda: {part: {} for part in PARTS}, validate=_journal,
            if_unreadable="auto-routing starts afresh")
        self.keep = keep

    def load(self) -> None:
        """Reads the journal from Orthanc's database (again); raises if Orthanc cannot answer."""
        self._property.forget()
        with self._property.locked():
            pass

    @contextlib.contextmanager
    def _edit(self) -> Iterator[dict[str, Any]]:
        """The journal to change, written at the end if it changed, keeping the last
        ``keep`` deliveries done."""
        with self._property.edit() as state:
            yield state
            sent = state["sent"]
            if len(sent) > self.keep:
                for key in sorted(sent, key=lambda k: sent[k].get("at", 0))[:len(sent) - self.keep]:
                    del sent[key]

    # -- pending resources --

    def mark_pending(self, resource: str, level: str) -> None:
        with self._property.locked() as state:
            if resource in state["pending"]:
                return  # the usual case, once per instance: no need to compare the whole journal
            with self._edit() as state:
                state["pending"][resource] = {"level": level, "since": time.time()}

    def pending(self) -> dict[str, str]:
        """resource -> level of every resource not routed yet."""
        with self._property.locked() as state:
            return {r: v["level"] for r, v in state["pending"].items()}

    def pending_since(self) -> dict[str, tuple[str, float]]:
        """resource -> (level, time.time() it became pending) of every resource not routed yet."""
        with self._property.locked() as state:
            return {r: (v["level"], float(v.get("since", 0))) for r, v in state["pending"].items()}

    def done_with(self, resource: str) -> None:
        with self._edit() as state:
            state["pending"].pop(resource, None)

    # -- deliveries --

    def job_of(self, key: str) -> str | None:
        with self._property.locked() as state:
            entry = state["jobs"].get(key)
            return None if entry is None else str(entry["job"])

    def job_started(self, key: str, job: str, last_update: str | None) -> None:
        with self._edit() as state:
            state["jobs"][key] = {"job": job, "last_update": last_update}

    def already_sent(self, key: str, last_update: str | None) -> bool:
        """True if this resource, as it is now, was sent to this destination."""
        with self._property.locked() as state:
            entry = state["sent"].get(key)
        return entry is not None and last_update is not None and \
            entry.get("last_update") == last_update

    def sent(self, key: str, job: str | None) -> None:
        with self._edit() as state:
            started = state["jobs"].pop(key, None) or {}
            state["sent"][key] = {"last_update": started.get("last_update"), "job": job,
                                  "at": time.time()}

    def gave_up(self, key: str) -> None:
        with self._edit() as state:
            state["jobs"].pop(key, None)

    def counts(self) -> dict[str, int]:
        """How many entries each part has; zeros before the journal is read (never waits on
        Orthanc)."""
        counted = self._property.if_read(lambda state: {part: len(state[part]) for part in PARTS})
        return counted or {part: 0 for part in PARTS}
