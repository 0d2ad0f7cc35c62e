"""An offloaded on-stored-instance handler and the master's count of the DICOM files its
workers asked for (used by tests/integration/test_stored_bytes.py)."""

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from runtime import Request, offload, on_stored_instance, route, sdk
from runtime.sdk import transport

SERVED = {"GetDicomForInstance": 0}


def _counting(master_functions: Any) -> Any:
    """transport.master_functions, with GetDicomForInstance counted each time the master
    serves it to a worker (the pool is made after this script is imported)."""

    def functions() -> dict[str, Any]:
        found = master_functions()
        served = found["GetDicomForInstance"]

        def counted(*args: Any) -> Any:
            SERVED["GetDicomForInstance"] += 1
            return served(*args)

        found["GetDicomForInstance"] = counted
        return found

    return functions


transport.master_functions = _counting(transport.master_functions)


def folder() -> Path:
    return Path(sdk.configuration()["StoredBytesFolder"])


@route("/stored-bytes/served")
def served(request: Request) -> dict[str, int]:
    return SERVED


@on_stored_instance
@offload
def record(instance: Any) -> None:
    carried = "data" in instance._cache  # the event brought the bytes: no call to the master
    hold = folder() / "hold"
    if hold.exists():  # the test stops Orthanc meanwhile: this change is delivered again
        (folder() / f"started-{instance.id}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while hold.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    data = instance.data
    (folder() / f"stored-{instance.id}").write_text(json.dumps({
        "pid": os.getpid(), "size": len(data), "sha1": hashlib.sha1(data).hexdigest(),
        "carried": carried}))
