"""Several Orthanc servers on one database: who this server is, and which event handlers it runs.

Servers that share one index (Debian's ``orthanc-postgresql`` with ``"Lock": false``) share
its change log: each server's ``/changes`` lists the changes of all. What each keeps for
plugins is its own: Orthanc files a plugin's global properties under the server's
``DatabaseServerIdentifier`` (the index's ServerProperties table), so each server has its
own event checkpoints, routing journal and job checkpoints, and its own job engine::

    shared:   the change log, the resources, the storage folder
    per server (keyed by DatabaseServerIdentifier):
              our global properties (runtime.sdk.properties), Orthanc's saved jobs

So an event handler fed from the log runs on every server that runs it, each time for every
change of every server. ``"Cluster": {"EventHandlers": [...]}`` says which handlers this
server runs (shell patterns on their names; every one by default): give each handler to
one server, and each change is handled at least once, by that server (docs/cluster.md).

The identity is Orthanc's, the one that keys the properties: ``GetDatabaseServerIdentifier``
on Orthanc 1.11.1 and newer; before, the configuration's ``DatabaseServerIdentifier``, or,
when it is unset, a label (Orthanc then keys them by a hash of the MAC addresses, the AET
and the ports, which a plugin cannot read). Two servers given the same identifier share
our properties and overwrite each other's state: a heartbeat in a property of its own
(PropertyId.CLUSTER_PRESENCE) notices another writer and says so in the log, at ERROR.
"""

from __future__ import annotations

import fnmatch
import json
import os
import socket
import threading
import time
import uuid
from typing import Any

from runtime.errors import OrthancException
from runtime.sdk import logs, transport
from runtime.sdk.properties import PropertyId

HEARTBEAT = 2.0
"""Seconds between two heartbeats of a server on a shared index."""


def _log(level: str, message: str) -> None:
    logs.write(level, f"orthanc-runtime: {message}")


class Cluster:
    """This server's identity and share of the event handlers (one start of the plugin)."""

    def __init__(self, section: dict[str, Any] | None = None) -> None:
        settings = (section or {}).get("Cluster", {})
        self.patterns: list[str] = list(settings.get("EventHandlers", ["*"]))
        self.identity: str | None = None
        self.identity_from = ""
        self.index: str | None = None  # the database plugin, None for Orthanc's SQLite
        self.clash: dict[str, Any] | None = None  # another server that writes our heartbeat
        self._token = uuid.uuid4().hex
        self._written: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._names: list[str] = []  # the event handlers of the scripts (check_patterns)

    # -- which handlers run here --

    def runs(self, name: str) -> bool:
        """Whether this server runs the event handler ``name`` from the change log."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)

    def check_patterns(self, names: list[str]) -> None:
        """A warning for each pattern that names no event handler of the scripts (a typo
        would silently leave a handler to nobody)."""
        self._names = list(names)
        for pattern in self.patterns:
            if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
                _log("warning", f"Cluster.EventHandlers: {pattern!r} matches no event handler "
                     f"(they are: {', '.join(names) or 'none'}); this server runs "
                     f"{', '.join(n for n in names if self.runs(n)) or 'none of them'}")

    # -- who this server is --

    def resolve(self) -> None:
        """Reads the identity (no database call: allowed while Orthanc starts)."""
        try:
            found = transport.call("GetDatabaseServerIdentifier")
        except OrthancException:  # Orthanc before 1.11.1, or a build against its SDK
            found = None
        except Exception as error:  # not in Orthanc (a test's session)
            self.identity, self.identity_from = None, f"unknown ({error})"
            return
        if found:
            self.identity, self.identity_from = str(found), "GetDatabaseServerIdentifier"
            return
        configuration = json.loads(transport.call("GetConfiguration"))
        configured = configuration.get("DatabaseServerIdentifier")
        if configured:
            self.identity, self.identity_from = str(configured), "DatabaseServerIdentifier"
            return
        self.identity = f"{configuration.get('Name', 'Orthanc')}:{configuration.get('HttpPort', 8042)}"
        self.identity_from = ("Name:HttpPort (unset DatabaseServerIdentifier: Orthanc keys this "
                              "server's properties by a hash of its MAC addresses, AET and ports)")

    # -- the heartbeat, on a shared index --

    def start(self) -> None:
        """At ORTHANC_STARTED (on Orthanc's change thread, which must not call its REST API):
        a thread reads which index Orthanc uses, and on a database plugin's, beats."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="orthanc-runtime-cluster")
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(HEARTBEAT + 1)

    def _run(self) -> None:
        try:
            system = json.loads(transport.call("RestApiGet", "/system"))
        except Exception as error:
            _log("warning", f"cannot read /system ({error}): no check of the server's identity")
            return
        self.index = system.get("DatabaseBackendPlugin") or None
        if self.index is None:
            return  # Orthanc's own SQLite: one server, nobody to meet
        _log("info", f"this server is {self.identity!r} ({self.identity_from}) on the index "
             f"of {self.index}; it runs the event handlers {self.patterns}")
        if self.identity_from.startswith("Name:HttpPort"):
            _log("warning", "DatabaseServerIdentifier is not set: on a shared index, Orthanc keeps "
                 "this server's event checkpoints, routing journal and jobs under an identifier "
                 "derived from its MAC addresses and ports, which changes when the server moves; "
                 "set DatabaseServerIdentifier in Orthanc's configuration (docs/cluster.md)")
        shared = _unlocked(json.loads(transport.call("GetConfiguration")))
        everything = [n for n in self._names if self.runs(n)]
        if shared and everything == self._names and everything:
            _log("warning", f"the index of {self.index} is shared ({shared}: \"Lock\": false) and "
                 f"this server runs every event handler ({', '.join(everything)}): a server "
                 "beside it that runs them too handles each change again (auto-routing sends "
                 "each study again). Give each handler to one server with "
                 "PythonRuntime.Cluster.EventHandlers (docs/cluster.md)")
        while not self._stopping.is_set():
            try:
                self._beat_once()
            except Exception as error:  # Orthanc stops, or its database fails: next beat
                if not self._stopping.is_set():
                    _log("warning", f"the cluster heartbeat failed: {error}")
            self._stopping.wait(HEARTBEAT)

    def _beat_once(self) -> None:
        """Reads the heartbeat: another writer since ours is another server with our identity;
        then writes ours."""
        current = transport.call("GetGlobalProperty", int(PropertyId.CLUSTER_PRESENCE), "")
        if self._written is not None and current and current != self._written:
            try:
                other = json.loads(current)
            except ValueError:
                other = {"text": current[:200]}
            if other.get("token") != self._token and self.clash is None:
                self.clash = {k: other.get(k) for k in ("host", "pid", "http_port")}
                _log("error", f"another Orthanc server uses this server's identity "
                     f"{self.identity!r} on one database (host {other.get('host')}, pid "
                     f"{other.get('pid')}, HTTP port {other.get('http_port')}): both read and "
                     "overwrite the same event checkpoints, routing journal and job "
                     "checkpoints. Give each server its own DatabaseServerIdentifier in "
                     "Orthanc's configuration")
        text = json.dumps({"token": self._token, "host": socket.gethostname(), "pid": os.getpid(),
                           "http_port": _http_port(), "identity": self.identity,
                           "beat": round(time.time(), 1)}, sort_keys=True)
        transport.call("SetGlobalProperty", int(PropertyId.CLUSTER_PRESENCE), text)
        self._written = text

    def status(self, handlers: list[str]) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "identity_from": self.identity_from,
            "index": self.index or "SQLite",
            "event_handlers": list(self.patterns),
            "runs": [n for n in handlers if self.runs(n)],
            "leaves_to_other_servers": [n for n in handlers if not self.runs(n)],
            "identity_clash": self.clash,
        }


def _unlocked(configuration: dict[str, Any]) -> str | None:
    """The database plugin's section that lets several servers share its index ("Lock":
    false, as the PostgreSQL and MySQL plugins spell it), or None."""
    for section in ("PostgreSQL", "MySQL", "Odbc"):
        found = configuration.get(section)
        if isinstance(found, dict) and found.get("EnableIndex") and found.get("Lock") is False:
            return section
    return None


_port: list[int] = []


def _http_port() -> int:
    if not _port:
        _port.append(int(json.loads(transport.call("GetConfiguration")).get("HttpPort", 8042)))
    return _port[0]
