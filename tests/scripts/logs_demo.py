"""Handlers that log with Python's ``logging``, for tests/integration/test_logs.py.

Each line names a tag that the test chose, so that the test finds it in
Orthanc's log and checks the handler's name and request id before it.
"""

import logging
import os
from typing import Any

from runtime import (
    Change,
    ChangeType,
    Request,
    job,
    jobs,
    offload,
    on_change,
    request_id,
    route,
    sdk,
)

log = logging.getLogger("logs_demo")


@route("/logs/inline")
def inline(request: Request) -> Any:
    log.warning("inline says %s", request.query["tag"])
    log.info("inline informs %s", request.query["tag"])
    log.debug("inline whispers %s", request.query["tag"])  # below the root's level: dropped
    return {"request_id": request_id(), "pid": os.getpid()}


@route("/logs/offloaded")
@offload
def offloaded(request: Request) -> Any:
    log.warning("offloaded says %s", request.query["tag"])
    log.error("offloaded errs %s", request.query["tag"])
    log.info("offloaded informs %s", request.query["tag"])  # the master's root level: INFO
    log.debug("offloaded whispers %s", request.query["tag"])
    return {"request_id": request_id(), "pid": os.getpid()}


@route("/logs/fails")
@offload
def fails(request: Request) -> Any:
    log.warning("about to fail %s", request.query["tag"])
    raise ValueError(f"fails on purpose {request.query['tag']}")


@route("/logs/inline-fails")
def inline_fails(request: Request) -> Any:
    raise ValueError(f"inline fails on purpose {request.query['tag']}")


@route("/logs/sdk-fails")
@offload
def sdk_fails(request: Request) -> Any:
    try:
        sdk.get_dicom(f"no-such-{request.query['tag']}")  # the master's SDK call raises
    except Exception as error:
        log.warning("the lookup failed as expected: %s", type(error).__name__)
    return {"request_id": request_id(), "pid": os.getpid()}


@on_change(ChangeType.NEW_PATIENT)
@offload
def new_patient(change: Change) -> None:
    log.warning("event new patient %s req %s", change.resource_id, request_id())


@job("LogJob")
@offload
def log_job(tag: str) -> Any:
    log.warning("job says %s req %s", tag, request_id())
    yield 0.5
    return {"request_id": request_id()}


@route("/logs/job", methods=["POST"])
def submit_job(request: Request) -> Any:
    return {"ID": jobs.submit("LogJob", tag=request.json()["tag"])}


@route("/logs/sdk")
@offload
def sdk_call(request: Request) -> Any:
    return {"version": sdk.rest_get("/system")["Version"], "request_id": request_id(),
            "pid": os.getpid()}


@route("/logs/modules")
def modules(request: Request) -> Any:
    """Whether OpenTelemetry is loaded in the master (it must not be without "Telemetry")."""
    import sys

    return {"opentelemetry": any(name.startswith("opentelemetry") for name in sys.modules),
            "pid": os.getpid()}
