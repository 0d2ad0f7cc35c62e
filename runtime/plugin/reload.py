"""Reload on save, for development: ``"PythonRuntime": {"Reload": true}`` or ``run --reload``.

A thread watches the scripts, the other modules of their folders, and
Orthanc's configuration file::

    a script or a module beside it changed
        -> import the scripts again, what they declare going to a new registry
           (runtime.registry.recording_into); on any error: the previous
           handlers stay, the traceback goes to Orthanc's log
        -> register the new routes with Orthanc, start a new pool whose workers
           import the new code, swap the handlers, restart the event feeds
           (their checkpoints carry on), let the old pool finish its tasks
    the configuration changed
        -> checked; if valid, Orthanc restarts itself (POST /tools/reset),
           which the runtime survives; if not, the log says why and nothing moves

Requests in flight finish on the handlers they started with; the next ones
find the new handlers. Recipes enabled by configuration are not reloaded.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from runtime.sdk import logs

POLL = 0.2
"""Seconds between two looks at the files' modification times."""


def _log(level: str, message: str) -> None:
    logs.write(level, f"orthanc-runtime: {message}")


class Watcher:
    """Polls modification times; calls ``on_scripts`` or ``on_configuration`` on a change."""

    def __init__(self, scripts: list[Path], configuration: Path | None,
                 on_scripts: Callable[[list[Path]], None],
                 on_configuration: Callable[[Path], None]) -> None:
        self.scripts = [p.resolve() for p in scripts]
        self.configuration = configuration.resolve() if configuration else None
        self.on_scripts = on_scripts
        self.on_configuration = on_configuration
        self._stop = threading.Event()
        self._seen = self._times()
        self._thread = threading.Thread(target=self._run, name="orthanc-runtime-reload",
                                        daemon=True)

    def watched(self) -> list[Path]:
        """The scripts, the Python modules beside them, the configuration file."""
        files = set(self.scripts)
        for folder in {p.parent for p in self.scripts}:
            files.update(folder.glob("*.py"))
        if self.configuration is not None and self.configuration.is_file():
            files.add(self.configuration)
        return sorted(files)

    def _times(self) -> dict[Path, int]:
        times = {}
        for path in self.watched():
            try:
                times[path] = path.stat().st_mtime_ns
            except OSError:
                pass
        return times

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            now = self._times()
            changed = [p for p in now.keys() | self._seen.keys() if now.get(p) != self._seen.get(p)]
            if not changed:
                continue
            time.sleep(POLL)  # an editor may write a file in several steps
            self._seen = self._times()
            try:
                if self.configuration is not None and self.configuration in changed:
                    self.on_configuration(self.configuration)
                else:
                    self.on_scripts(changed)
            except Exception as error:
                _log("error", "reload failed:\n" + "".join(traceback.format_exception(error)))


def forget_modules_beside(scripts: list[Path]) -> dict[str, ModuleType]:
    """Removes from sys.modules the modules loaded from the scripts' folders (not the scripts:
    the caller replaces those), so that importing the scripts again imports them afresh;
    returns them, to put back if the new import fails."""
    folders = {p.resolve().parent for p in scripts}
    names = {p.stem for p in scripts}
    forgotten = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and name not in names and Path(file).resolve().parent in folders:
            forgotten[name] = sys.modules.pop(name)
    importlib.invalidate_caches()
    return forgotten
