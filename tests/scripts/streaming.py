"""Streamed answers, for tests/integration/test_streaming.py.

``/stream`` yields a first chunk, then waits (up to ``?wait=`` seconds) for the
file ``?flag=`` that the client makes once it has read that chunk, then says
whether it saw it: "acknowledged" proves the first chunk reached the client
before the generator finished. Inline, offloaded, failing at once, failing
after a chunk, a chunk of the wrong type, and the official API's
``RestOutput.StartStreamAnswer`` / ``SendStreamChunk``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import orthanc

from runtime import Request, StreamingResponse, offload, route


def chunks(request: Request) -> Iterator[bytes | str]:
    flag, wait = request.query["flag"], float(request.query.get("wait", "10"))
    yield b"first\n"
    deadline = time.monotonic() + wait
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)
    yield b"acknowledged\n" if os.path.exists(flag) else b"not acknowledged\n"
    yield "last\n"  # str goes as UTF-8


@route("/stream")
def stream(request: Request) -> Iterator[bytes | str]:
    return chunks(request)


@route("/stream/offloaded")
@offload(timeout=30)
def stream_offloaded(request: Request) -> Iterator[bytes | str]:
    return chunks(request)


@route("/stream/typed")
def stream_typed(request: Request) -> StreamingResponse:
    return StreamingResponse(iter([b"a,b\n", b"1,2\n"]), content_type="text/csv",
                             headers={"X-Rows": "2"})


@route("/stream/fails-at-once")
def fails_at_once(request: Request) -> Iterator[bytes]:
    raise_now = True
    if raise_now:
        raise RuntimeError("no data today")
    yield b"never"


@route("/stream/fails-later")
def fails_later(request: Request) -> Iterator[bytes]:
    yield b"first\n"
    raise RuntimeError("the source went away")


@route("/stream/offloaded/fails-later")
@offload(timeout=30)
def offloaded_fails_later(request: Request) -> Iterator[bytes]:
    yield b"first\n"
    raise RuntimeError("the worker's source went away")


@route("/stream/bad-chunk")
def bad_chunk(request: Request) -> Iterator[object]:
    yield 42


def compat_stream(output: orthanc.RestOutput, uri: str, **request: object) -> None:
    output.StartStreamAnswer("text/plain")
    for part in ("one\n", b"two\n", "three\n"):
        output.SendStreamChunk(part)


orthanc.RegisterRestCallback("/stream/compat", compat_stream)
