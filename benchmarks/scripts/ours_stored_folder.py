"""P12, ours: the folder the handlers write their records to (``BenchStoredFolder`` of the
configuration), read once in each process (the master and each worker)."""

from runtime import sdk

_FOLDER: list[str] = []


def folder() -> str:
    if not _FOLDER:
        _FOLDER.append(sdk.configuration()["BenchStoredFolder"])
    return _FOLDER[0]
