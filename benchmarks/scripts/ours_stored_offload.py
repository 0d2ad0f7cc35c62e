"""P12, ours: ``stored_work.record`` in an offloaded ``@on_stored_instance`` handler (a worker
gets the instance's bytes with its event)."""

from typing import Any

import stored_work

from runtime import offload, on_stored_instance, sdk

FOLDER: list[str] = []  # read once in each process


def folder() -> str:
    if not FOLDER:
        FOLDER.append(sdk.configuration()["BenchStoredFolder"])
    return FOLDER[0]


@on_stored_instance
@offload
def stored_offloaded(instance: Any) -> None:
    stored_work.record(folder(), instance.id, instance.data)
