"""Handlers that misbehave on purpose (used by tests/reliability/)."""

import ctypes
import os
import signal
import time

from runtime import ChangeType, Request, offload, on_change, on_stored_instance, route, sdk

BALLAST: list[bytes] = []
CHANGES: list[str] = []
STORED: list[str] = []


@route("/rel/work/{n:int}")
@offload
def work(request: Request):
    time.sleep(float(request.query.get("s", "0.05")))
    return {"n": request.params["n"], "pid": os.getpid()}


@route("/rel/inline/{n:int}")
def inline(request: Request):
    return {"n": request.params["n"]}


@route("/rel/proxied/{n:int}")
@offload
def proxied(request: Request):
    return {"n": request.params["n"], "version": sdk.rest_get("/system")["Version"]}


@route("/rel/echo", methods=["POST"])
@offload
def echo(request: Request):
    return {"size": len(request.body)}


@route("/rel/json", methods=["POST"])
def parse_json(request: Request):
    return {"keys": sorted(request.json())}


@route("/rel/param/{value}")
def param(request: Request):
    return {"value": request.params["value"]}


@route("/rel/path/{rest:path}")
def path_param(request: Request):
    return {"rest": request.params["rest"]}


@route("/rel/kill")
@offload
def kill(request: Request):
    os.kill(os.getpid(), signal.SIGKILL)


@route("/rel/segv")
@offload
def segv(request: Request):
    ctypes.string_at(0)


@route("/rel/exit")
@offload
def exit_now(request: Request):
    os._exit(3)


@route("/rel/hang")
@offload(timeout=1)
def hang(request: Request):
    time.sleep(120)


@route("/rel/grow/{mb:int}")
@offload
def grow(request: Request):
    BALLAST.append(b"\x01" * (request.params["mb"] << 20))
    return {"pid": os.getpid(), "held_mb": sum(len(b) for b in BALLAST) >> 20}


@route("/rel/changes")
def changes(request: Request):
    return {"changes": CHANGES, "stored": STORED}


@on_change(ChangeType.NEW_INSTANCE)
def on_new(change):
    CHANGES.append(change.resource_id)


@on_stored_instance
def on_stored(instance):
    STORED.append(instance.id)


def _record_event(name: str, line: str) -> None:
    """Appends a line to a file of ``ReliabilityEventsFolder``, when the test configured one."""
    folder = sdk.configuration().get("ReliabilityEventsFolder")
    if folder:
        descriptor = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(descriptor, (line + "\n").encode())
        finally:
            os.close(descriptor)


@on_change(ChangeType.NEW_INSTANCE)
@offload
def on_new_in_worker(change):
    _record_event("changes.log", change.resource_id)


@on_stored_instance
@offload
def on_stored_in_worker(instance):
    _record_event("stored.log", f"{instance.id} {instance.size}")
