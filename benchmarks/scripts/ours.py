"""orthanc-runtime's side of the benchmark: each route inline and under @offload.

The CPU-bound loop of the official documentation (its outer count from the query's ``outer``), a
trivial route, a read of an instance's DICOM file timed inside the handler, a
route that waits inside an SDK call (Orthanc fetches ``/system`` from the peer
"slow", the benchmark's slow HTTP server) and an offloaded route that sleeps.
"""

import math
import sys
import time

from runtime import Request, Response, offload, route, sdk


def slow_computation(outer: int) -> str:
    """The official documentation's CPU loop (as in official.py), sized by ``outer``."""
    start = time.time()
    for _ in range(outer):
        for j in range(30000):
            math.sqrt(float(j))
    return f"computation done in {time.time() - start:.03f} seconds\n"


def computation_answer(request: Request) -> Response:
    outer = int(request.query.get("outer", "1000"))
    return Response(slow_computation(outer), content_type="text/plain")


@route("/bench/computation")
def computation(request: Request) -> Response:
    return computation_answer(request)


@route("/bench/computation-offload")
@offload
def computation_offloaded(request: Request) -> Response:
    return computation_answer(request)


@route("/bench/trivial")
def trivial(request: Request) -> Response:
    return Response(b"ok", content_type="text/plain")


@route("/bench/trivial-offload")
@offload
def trivial_offloaded(request: Request) -> Response:
    return Response(b"ok", content_type="text/plain")


def read_dicom(request: Request) -> dict:
    started = time.perf_counter()
    data = sdk.get_dicom(request.params["instance_id"])
    return {"size": len(data), "seconds": time.perf_counter() - started}


@route("/bench/dicom/{instance_id:id}")
def dicom(request: Request) -> dict:
    return read_dicom(request)


@route("/bench/dicom-offload/{instance_id:id}")
@offload
def dicom_offloaded(request: Request) -> dict:
    return read_dicom(request)


@route("/bench/slow-peer")
def slow_peer(request: Request) -> dict:
    return sdk.rest_get("/peers/slow/system")


@route("/bench/sleep")
@offload
def sleep(request: Request) -> Response:
    time.sleep(float(request.query.get("ms", "50")) / 1000)
    return Response(b"ok", content_type="text/plain")


@route("/bench/python")
def python(request: Request) -> str:
    return sys.version


def body_answer(request: Request) -> Response:
    size = int(request.query.get("bytes") or float(request.query.get("mb", "16")) * 1024 * 1024)
    return Response(b"\0" * size, content_type="application/octet-stream")


@route("/bench/body")
def body(request: Request) -> Response:
    """An answer of ``mb`` MB (or ``bytes``) from the master (P13's inline reference)."""
    return body_answer(request)


@route("/bench/body-offload")
@offload
def body_offloaded(request: Request) -> Response:
    """An answer of ``mb`` MB from a worker: what a large body costs on its way back."""
    return body_answer(request)


@route("/bench/upload", methods=["POST"])
def upload(request: Request) -> Response:
    """The request body's length (P13: what a large body costs on its way to the handler)."""
    return Response(str(len(request.body)), content_type="text/plain")


@route("/bench/upload-offload", methods=["POST"])
@offload
def upload_offloaded(request: Request) -> Response:
    return Response(str(len(request.body)), content_type="text/plain")
