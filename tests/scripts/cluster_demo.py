"""Handlers for tests/reliability/test_cluster_postgresql.py: several Orthancs on one index.

Each handler appends a line to a file of ``<ClusterTestFolder>`` naming what it saw and the
server it ran on (Orthanc's ``DatabaseServerIdentifier``, which the test sets): the test reads
there which server handled each instance, and ran each step of a job. Appends of short lines
are atomic, so the servers and their workers may write at once.
"""

import os
from pathlib import Path
from typing import Any

from runtime import (
    JobStep,
    Request,
    StoredInstance,
    job,
    jobs,
    offload,
    on_stored_instance,
    route,
    sdk,
)

_where: list[tuple[Path, str]] = []


def _record(name: str, line: str) -> None:
    if not _where:
        configuration = sdk.configuration()
        _where.append((Path(configuration["ClusterTestFolder"]),
                       str(configuration.get("DatabaseServerIdentifier", "-"))))
    folder, server = _where[0]
    descriptor = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(descriptor, f"{line} {server}\n".encode())
    finally:
        os.close(descriptor)


@on_stored_instance
@offload
def handled(instance: StoredInstance) -> None:
    _record("handled.log", instance.id)


@job("ClusterCount")
@offload(timeout=30)
def count(n: int, delay: float, checkpoint: Any = None) -> Any:
    import time

    for index in range(checkpoint or 0, n):
        time.sleep(delay)
        _record("steps.log", str(index))
        yield JobStep((index + 1) / n, checkpoint=index + 1)
    return {"counted": n}


@route("/cluster-test/count", methods=["POST"])
def submit(request: Request) -> Any:
    body = request.json()
    return {"ID": jobs.submit("ClusterCount", n=body["n"], delay=body["delay"])}
