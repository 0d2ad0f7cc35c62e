"""What auto-routing must remember across a restart, kept in Orthanc's database.

Orthanc raises ``STABLE_STUDY`` once, in memory: a study that was not stable
yet when Orthanc stopped (SIGTERM, ``kill -9``, ``/tools/reset``) is never
announced as stable after the start. And a stable study redelivered after a
restart (events are delivered at least once) must not be sent twice. So the
recipe writes down, in one global property of Orthanc's database:

- ``pending``: the resources that received instances and are not routed yet
  (written when a resource first becomes pending, before the change that made
  it pending is acknowledged: a crash cannot lose it);
- ``jobs``: the store job of each delivery under way, followed again after a
  restart instead of sending anew;
- ``sent``: each delivery done, with the resource's ``LastUpdate`` when it was
  sent: the same content is not sent again, new instances are.

Writes are synchronous and happen a few times per resource, not per instance.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from runtime import sdk

PROPERTY = 5468
"""The global property (plugins own 1024 and more) that holds the journal."""


class Journal:
    """The durable state of auto-routing; every method is thread-safe."""

    def __init__(self, keep: int = 1000) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] | None = None
        self.keep = keep

    def load(self) -> None:
        """Reads the journal from Orthanc's database (again)."""
        with self._lock:
            self._state = None
            self._get()

    def _get(self) -> dict[str, dict[str, Any]]:
        """The state, read from the database on first use (the lock is held)."""
        if self._state is None:
            text = sdk.get_global_property(PROPERTY, "")
            state: dict[str, dict[str, Any]] = {"pending": {}, "jobs": {}, "sent": {}}
            if text:
                try:
                    saved = json.loads(text)
                    for part in state:
                        state[part] = dict(saved.get(part, {}))
                except (ValueError, AttributeError, TypeError):
                    sdk.log.error("auto-routing: the saved journal is unreadable; starting afresh")
            self._state = state
        return self._state

    def _save(self) -> None:
        """Writes the journal (the lock is held)."""
        state = self._get()
        sent = state["sent"]
        if len(sent) > self.keep:
            for key in sorted(sent, key=lambda k: sent[k].get("at", 0))[:len(sent) - self.keep]:
                del sent[key]
        sdk.set_global_property(PROPERTY, json.dumps(state, sort_keys=True))

    # -- pending resources --

    def mark_pending(self, resource: str, level: str) -> None:
        with self._lock:
            pending = self._get()["pending"]
            if resource in pending:
                return
            pending[resource] = {"level": level, "since": time.time()}
            self._save()

    def pending(self) -> dict[str, str]:
        """resource -> level of every resource not routed yet."""
        with self._lock:
            return {r: v["level"] for r, v in self._get()["pending"].items()}

    def done_with(self, resource: str) -> None:
        with self._lock:
            if self._get()["pending"].pop(resource, None) is not None:
                self._save()

    # -- deliveries --

    def job_of(self, key: str) -> str | None:
        with self._lock:
            entry = self._get()["jobs"].get(key)
            return None if entry is None else str(entry["job"])

    def job_started(self, key: str, job: str, last_update: str | None) -> None:
        with self._lock:
            self._get()["jobs"][key] = {"job": job, "last_update": last_update}
            self._save()

    def already_sent(self, key: str, last_update: str | None) -> bool:
        """True if this resource, as it is now, was sent to this destination."""
        with self._lock:
            entry = self._get()["sent"].get(key)
        return entry is not None and last_update is not None and \
            entry.get("last_update") == last_update

    def sent(self, key: str, job: str | None) -> None:
        with self._lock:
            state = self._get()
            started = state["jobs"].pop(key, None) or {}
            state["sent"][key] = {"last_update": started.get("last_update"), "job": job,
                                  "at": time.time()}
            self._save()

    def gave_up(self, key: str) -> None:
        with self._lock:
            if self._get()["jobs"].pop(key, None) is not None:
                self._save()

    def counts(self) -> dict[str, int]:
        with self._lock:
            state = self._state or {}
            return {part: len(state.get(part, {})) for part in ("pending", "jobs", "sent")}
