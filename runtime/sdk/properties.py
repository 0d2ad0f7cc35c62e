"""Durable state in Orthanc's database: one global property per feature, as versioned JSON.

Orthanc keeps a few strings for plugins in its database ("global properties",
identifiers from 1024 on), so they follow Orthanc's backups and its PostgreSQL
index. The project's features that must survive a ``kill -9`` each keep one
such property, through a DurableProperty::

    feature --edit()/locked()--> DurableProperty: the value in memory, under one lock
                                   | first use: GetGlobalProperty -> JSON -> version? -> validate
                                   | save(): SetGlobalProperty <- JSON {"version": N, ...value}
                                 runtime.sdk.transport (the binding in the master, the master
                                 from a worker)

The identifiers are in one table, PropertyId, with what each holds: a store
refuses any other, so two features can never share one.

On an index that several Orthanc servers share (the PostgreSQL plugin with "Lock" false),
Orthanc keeps a plugin's global properties per server, keyed by the server's
DatabaseServerIdentifier: each server reads and writes its own copy of every property
(runtime.callbacks.cluster).

What a stored value does when it is read:

- unset: the feature starts from ``empty()``;
- not JSON, not an object, an older version, or refused by ``validate``: an
  error in Orthanc's log, the feature starts from ``empty()``, and its first
  write replaces the unreadable value;
- a newer version (an older orthanc-runtime after a newer one): an error in the
  log, the feature starts from ``empty()``, and nothing is written in this run,
  so that the newer runtime finds its state again;
- a value without ``version`` is version 1 (the auto-routing journal was
  written without one before this store existed).

Reading Orthanc can fail (Orthanc refuses database calls while plugins start):
the error goes to the caller and nothing is kept, the next use reads again. A
write that fails is logged and the value stays in memory: the next save()
writes it.
"""

from __future__ import annotations

import contextlib
import enum
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from runtime.sdk import logs, transport

__all__ = ["PropertyId", "HOLDS", "DurableProperty", "UnknownProperty"]

R = TypeVar("R")


@enum.unique
class PropertyId(enum.IntEnum):
    """The global properties of Orthanc's database the project uses, one feature each."""

    EVENT_CHECKPOINTS = 5467
    ROUTING_JOURNAL = 5468
    JOB_CHECKPOINTS = 5469
    CLUSTER_PRESENCE = 5470


HOLDS: dict[PropertyId, tuple[str, str]] = {
    PropertyId.EVENT_CHECKPOINTS: (
        "event checkpoints",
        "runtime.callbacks.changes: each event handler's last change of Orthanc's change log "
        'it is done with, {"handlers": {handler: seq}}'),
    PropertyId.ROUTING_JOURNAL: (
        "auto-routing journal",
        "recipes.routing_journal (the AutoRouting recipe): the resources not routed yet, the "
        'deliveries under way and those done, {"pending": ..., "jobs": ..., "sent": ...}'),
    PropertyId.JOB_CHECKPOINTS: (
        "job checkpoints",
        "runtime.jobs: the last checkpoint of each running @job, "
        '{"jobs": {key: [checkpoint, how many checkpoints]}}'),
    PropertyId.CLUSTER_PRESENCE: (
        "cluster heartbeat",
        "runtime.callbacks.cluster, on a shared index only: the last heartbeat of the server "
        "with this DatabaseServerIdentifier, so that a second one is noticed, "
        '{"token": this start, "host": ..., "pid": ..., "http_port": ..., "beat": time}'),
}
"""What each property is called in the log, and what it holds (and who keeps it)."""


class UnknownProperty(ValueError):
    """A store was asked for a global property that the table PropertyId does not name."""

    def __init__(self, property_id: int) -> None:
        super().__init__(
            f"global property {property_id} is not in runtime.sdk.properties.PropertyId: add it "
            "there, with what it holds, so that no two features ever share one")
        self.property_id = property_id


def _log_error(message: str) -> None:
    logs.write("error", message)


class DurableProperty:
    """A JSON object kept in one global property of Orthanc's database, cached in memory.

    Example::

        from runtime import sdk

        journal = sdk.DurableProperty(
            sdk.PropertyId.ROUTING_JOURNAL, version=1,
            empty=lambda: {"pending": {}},
            validate=lambda saved: {"pending": dict(saved["pending"])},
            if_unreadable="starting afresh")
        with journal.edit() as value:        # read on first use; written if it changed
            value["pending"]["1.2.3"] = "Study"
        with journal.locked() as value:      # read only
            pending = dict(value["pending"])

    ``property_id`` must be in PropertyId. ``version`` is written beside the
    value's members. ``empty()`` is the value when nothing (readable) is
    stored; ``validate(members)`` turns the stored members (without
    ``version``) into the value, raising ValueError, KeyError, TypeError or
    AttributeError when they are not one. ``if_unreadable`` ends the log line
    of an unreadable value: what the feature does without it.

    Every method is thread-safe; the lock is reentrant, so save() may be
    called inside locked().
    """

    def __init__(self, property_id: int, *, version: int,
                 empty: Callable[[], dict[str, Any]],
                 validate: Callable[[dict[str, Any]], dict[str, Any]],
                 if_unreadable: str) -> None:
        try:
            self.id = PropertyId(property_id)
        except ValueError:
            raise UnknownProperty(property_id) from None
        self.name = HOLDS[self.id][0]
        self.version = version
        self._empty = empty
        self._validate = validate
        self._if_unreadable = if_unreadable
        self._lock = threading.RLock()
        self._value: dict[str, Any] | None = None
        self._stored: str | None = None  # the text in Orthanc's database, as far as we know
        self._read_only = False  # a newer runtime wrote it: keep it for that runtime

    def __repr__(self) -> str:
        return f"<DurableProperty {int(self.id)} ({self.name}), version {self.version}>"

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """The value, under the lock, to read, or to change and save() later."""
        with self._lock:
            yield self._load()

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """The value, under the lock, to change in place: written at the end if it changed.

        If the block raises, nothing is written: what it changed already stays in memory,
        and goes with the next save().
        """
        with self._lock:
            value = self._load()
            yield value
            self.save()

    def save(self) -> bool:
        """Writes the value if it differs from what Orthanc holds; False if that failed."""
        with self._lock:
            if self._value is None or self._read_only:
                return True
            text = self._text(self._value)
            if text == self._stored:
                return True
            try:
                transport.call("SetGlobalProperty", int(self.id), text)
            except Exception as error:
                _log_error(f"orthanc-runtime: cannot save the {self.name} (global property "
                           f"{int(self.id)}): {error}; it is written again with the next change")
                return False
            self._stored = text
            return True

    def if_read(self, look: Callable[[dict[str, Any]], R]) -> R | None:
        """``look(value)`` under the lock if the value was read already, else None.

        Never calls Orthanc: for a status page that must not wait on the database.
        """
        with self._lock:
            return None if self._value is None else look(self._value)

    def forget(self) -> None:
        """The next use reads Orthanc's database again (a start or reload of the plugin).

        What was not saved is dropped.
        """
        with self._lock:
            self._value = None
            self._stored = None
            self._read_only = False

    def _load(self) -> dict[str, Any]:
        """The value, read from Orthanc on first use (the lock is held)."""
        if self._value is None:
            text = transport.call("GetGlobalProperty", int(self.id), "")
            self._value = self._parse(text) if text else self._empty()
            # Unset is as good as empty: nothing to write until the value changes.
            self._stored = text or self._text(self._value)
        return self._value

    def _text(self, value: dict[str, Any]) -> str:
        return json.dumps({**value, "version": self.version}, sort_keys=True)

    def _parse(self, text: str) -> dict[str, Any]:
        where = f"the saved {self.name} (global property {int(self.id)})"
        try:
            saved = json.loads(text)
            if not isinstance(saved, dict):
                raise TypeError(f"a JSON {type(saved).__name__}, not an object")
            version = saved.pop("version", 1)
            if not isinstance(version, int) or isinstance(version, bool):
                raise TypeError(f"version {version!r}")
            if version > self.version:
                self._read_only = True
                _log_error(f"orthanc-runtime: {where} were written by a newer orthanc-runtime "
                           f"(version {version}; this one reads {self.version}): left as they "
                           f"are, and not updated while this one runs; {self._if_unreadable}")
                return self._empty()
            if version < self.version:
                raise ValueError(f"version {version}, older than {self.version}")
            return self._validate(saved)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            _log_error(f"orthanc-runtime: {where} are unreadable ({error}); {self._if_unreadable}")
            return self._empty()
