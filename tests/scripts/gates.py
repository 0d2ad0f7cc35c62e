"""HTTP filters, inline and offloaded (tests/integration/test_gates.py)."""

import os
import signal

from runtime import FilterRequest, http_filter, offload, route


@http_filter
def no_forbidden_paths(request: FilterRequest) -> bool:
    if request.headers.get("X-Raise"):
        raise RuntimeError("the filter itself fails")
    return not request.uri.startswith("/forbidden") and not request.headers.get("X-Block")


@http_filter
@offload(timeout=5)
def in_a_worker(request: FilterRequest) -> bool:
    if request.query.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    return request.query.get("deny") != "1"


@route("/gates/hello")
def hello(request):
    return {"hello": "through"}
