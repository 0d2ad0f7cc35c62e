"""Routes of tests/integration/test_fast_path.py: an inline one that holds the master's GIL, an
offloaded trivial one, an offloaded one that calls the SDK, an offloaded one that raises."""

import ctypes
import os

from runtime import Request, offload, route, sdk


@route("/fast/hold-gil")
def hold_gil(request: Request):
    """Holds the master's GIL for the asked seconds: libc's usleep called through PyDLL, which
    does not release the GIL (a spinning Python thread would give it up every 5 ms)."""
    seconds = float(request.query.get("s", "3"))
    ctypes.PyDLL(None).usleep(int(seconds * 1_000_000))
    return {"held": seconds}


@route("/fast/pid")
@offload
def pid(request: Request):
    return {"pid": os.getpid(), "query": request.query, "id": request.params}


@route("/fast/items/{item:int}", methods=["POST"])
@offload
def item(request: Request):
    return {"item": request.params["item"], "body": request.body.decode(),
            "header": request.headers.get("X-Test", "")}


@route("/fast/sdk")
@offload
def sdk_call(request: Request):
    return {"version": sdk.configuration().get("Name", ""), "pid": os.getpid()}


@route("/fast/fail")
@offload
def fail(request: Request):
    raise ValueError("fast_path_demo: this handler always fails")
