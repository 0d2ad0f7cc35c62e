"""Offloaded event handlers that record every change they see (tests/reliability/test_events.py).

Each handler appends one line per event to a file of the folder named by the
configuration's ``EventsTestFolder`` (appends of short lines are atomic, so
workers may write at once) and takes ``EventsTestDelay`` seconds, as real
work would.
"""

import os
import time
from pathlib import Path

from runtime import Change, ChangeType, StoredInstance, offload, on_change, on_stored_instance, sdk

_settings: dict[str, object] = {}


def _setting(key: str, default: object) -> object:
    if not _settings:
        configuration = sdk.configuration()
        _settings["folder"] = configuration["EventsTestFolder"]
        _settings["delay"] = float(configuration.get("EventsTestDelay", 0.05))
    return _settings.get(key, default)


def _record(name: str, line: str) -> None:
    path = Path(str(_setting("folder", "."))) / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode())
    finally:
        os.close(descriptor)


@on_stored_instance
@offload
def stored(instance: StoredInstance) -> None:
    time.sleep(float(str(_setting("delay", 0.05))))
    _record("stored.log", f"{instance.id} {len(instance.data)}")


@on_change(ChangeType.NEW_INSTANCE)
@offload
def changed(change: Change) -> None:
    time.sleep(float(str(_setting("delay", 0.05))))
    _record("changes.log", f"{change.resource_id} {change.seq}")
