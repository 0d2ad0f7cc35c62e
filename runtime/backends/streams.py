"""Streamed answers of offloaded routes: a worker's generator, sent chunk by chunk.

    Orthanc HTTP thread (runtime.callbacks.rest)          pool worker (runtime.backends.tasks.run_route)
    with Sink(output) as sink:
      executor.run_route ------- Task ----------->  handler(request): a generator
                                                    its first chunk (a failure: JSON, as usual)
        <-- Call route_stream_start(type, headers)
        RestOutput.start_stream_answer              (False: the worker joins the chunks)
        <-- Call route_stream_chunk(data) ...       each chunk as the generator yields it
      <-- Result: an empty Response ---------------
    sink.started: the answer is out already

The pool serves a worker's calls on the thread that waits for its task: the
HTTP thread, which holds Orthanc's RestOutput while the route's callback runs.
So the sink belongs to that thread. A Dask worker has no such channel back: its
chunks are joined, and so are they on an Orthanc that cannot stream (< 1.12.6).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from runtime import answers
from runtime.http import Response, StreamingResponse, chunk_bytes
from runtime.sdk import transport

START, CHUNK = "route_stream_start", "route_stream_chunk"

_local = threading.local()


class Sink:
    """Where the chunks of the offloaded route this thread waits for go: Orthanc's RestOutput."""

    def __init__(self, output: Any) -> None:
        self.output = output
        self.started = False
        self.sent = 0

    def __enter__(self) -> Sink:
        _local.sink = self
        return self

    def __exit__(self, *exc: object) -> None:
        _local.sink = None


def _sink() -> Sink | None:
    return getattr(_local, "sink", None)


def current_sink() -> Sink | None:
    """The sink this thread's offloaded route writes to now, if any (runtime.backends.fast_lane)."""
    return _sink()


def stream_start(content_type: str, headers: dict[str, str]) -> bool:
    """Master side: starts the streamed answer, or says False (the worker then joins)."""
    sink = _sink()
    if sink is None or sink.started or not transport.call("streaming_available"):
        return False
    if answers.refusal(Response(b"", 200, content_type, headers)) is not None:
        return False  # joined, the master's write refuses it and logs why
    for key, value in headers.items():
        sink.output.set_http_header(key, value)
    sink.output.start_stream_answer(content_type)
    sink.started = True
    return True


def stream_chunk(data: bytes) -> None:
    """Master side: sends one chunk (an OrthancException when the client went away)."""
    sink = _sink()
    if sink is None or not sink.started:
        raise RuntimeError("no streamed answer was started on this thread")
    if data:  # an empty one has nothing to send
        sink.output.send_stream_chunk(data)
        sink.sent += len(data)


def master_functions() -> dict[str, Callable[..., Any]]:
    return {START: stream_start, CHUNK: stream_chunk}


def send_from_worker(response: StreamingResponse) -> Response:
    """Worker side: the chunks go to the master as they come where it can stream them (an
    empty Response comes back: the answer is out); else the whole answer, joined."""
    from pool.worker import call_master, in_task

    chunks = iter(response.chunks)
    first = chunk_bytes(next(chunks, b""))
    if not (in_task() and call_master(START, response.content_type, response.headers)):
        return Response(first + b"".join(chunk_bytes(c) for c in chunks), 200,
                        response.content_type, response.headers)
    call_master(CHUNK, first)
    for chunk in chunks:
        call_master(CHUNK, chunk_bytes(chunk))
    return Response(b"")
