"""Offloaded handlers of every kind (used by tests/integration/test_offload.py)."""

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import orthanc

from runtime import (
    ChangeType,
    Request,
    Response,
    offload,
    on_change,
    on_stored_instance,
    route,
    sdk,
)
from runtime.sdk import transport


def marker_dir() -> Path:
    return Path(sdk.configuration()["OffloadMarkerDir"])


@route("/off/pid")
@offload
def pid(request: Request):
    return {"pid": os.getpid()}


@route("/off/inline-pid")
def inline_pid(request: Request):
    return {"pid": os.getpid()}


@route("/off/cpu")
@offload
def cpu(request: Request):
    started = time.time()
    total = 0.0
    for i in range(int(request.query.get("n", "300000"))):
        total += i ** 0.5
    return {"pid": os.getpid(), "start": started, "end": time.time()}


@route("/off/sdk/{instance_id}")
@offload
def sdk_calls(request: Request):
    instance_id = request.params["instance_id"]
    system = json.loads(orthanc.RestApiGet("/system"))
    tags = sdk.rest_get(f"/instances/{instance_id}/simplified-tags")
    sdk.log.warning(f"offloaded-log-line from {os.getpid()}")
    try:
        orthanc.RestApiGet("/instances/unknown")
    except orthanc.OrthancException as error:
        missing = [int(error.args[0]), error.args[1]]
    return {"version": system["Version"], "patient": tags["PatientName"], "missing": missing,
            "pid": os.getpid()}


@route("/off/dicom/{instance_id}")
@offload
def dicom(request: Request):
    data = orthanc.GetDicomForInstance(request.params["instance_id"])
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pid": os.getpid()}


@route("/off/sleep")
@offload
def sleep(request: Request):
    time.sleep(float(request.query.get("s", "1")))
    return {"pid": os.getpid(), "slept": float(request.query.get("s", "1"))}


@route("/off/kill")
@offload
def kill(request: Request):
    os.kill(os.getpid(), signal.SIGKILL)


@route("/off/timeout")
@offload(timeout=1)
def hang(request: Request):
    time.sleep(60)


@route("/off/slow-timeout")
@offload(timeout=1)
def slow_timeout(request: Request):
    time.sleep(3)  # past its timeout, briefly: a Dask worker cannot be stopped mid-task


@route("/off/marked-sleep")
@offload
def marked_sleep(request: Request):
    """Appends its pid to a marker file, then sleeps: the tests count how often it ran."""
    with open(marker_dir() / f"runs-{request.query['tag']}", "a") as runs:
        runs.write(f"{os.getpid()}\n")
    time.sleep(float(request.query.get("s", "5")))
    return {"pid": os.getpid()}


@route("/off/sleep-then-call")
@offload
def sleep_then_call(request: Request):
    """Waits, then calls Orthanc back: over HTTP from a Dask worker, on one of its threads."""
    time.sleep(float(request.query.get("s", "1")))
    return {"version": sdk.rest_get("/system")["Version"], "pid": os.getpid()}


@route("/off/nested")
@offload
def nested(request: Request):
    inner = sdk.rest_get("/off/pid", after_plugins=True)
    return {"outer": os.getpid(), "inner": inner["pid"]}


@route("/off/forbidden")
@offload
def forbidden(request: Request):
    transport.call("register_on_change")


@route("/off/raise")
@offload
def raises(request: Request):
    raise ValueError("bad value in worker")


@route("/off/big")
@offload
def big(request: Request):
    size = int(request.query.get("mb", "8")) << 20
    return Response(bytes(range(256)) * (size // 256), content_type="application/octet-stream")


@route("/off/echo", methods=["POST"])
@offload
def echo_body(request: Request):
    return {"size": len(request.body), "sha256": hashlib.sha256(request.body).hexdigest()}


@on_change(ChangeType.NEW_INSTANCE)
@offload
def change_in_worker(change):
    (marker_dir() / f"change-{change.resource_id}").write_text(json.dumps({"pid": os.getpid()}))


@on_stored_instance
@offload
def stored_in_worker(instance):
    (marker_dir() / f"stored-{instance.id}").write_text(json.dumps({
        "pid": os.getpid(), "size": len(instance.data), "modality": instance.json.get("Modality"),
        "origin": instance.origin.name}))
