"""A worker's side of the fast path: a request frame in, the handler run, an answer frame out.

    fast_path.cpp (an Orthanc HTTP thread) == request frame ==> pool.worker: RawFrame
                                                                 answer(data) here
                                                                   the handler, by name
                                                                   plan_of(its Response)
    executes the plan, no GIL  <========== answer frame =======    bytes
    the master's Python writes it <====== Result / Failure ====    a Response that the fast
                                                                   path does not send (1 MB or
                                                                   more, refused), an error

The handler runs as an offloaded route's does (runtime.backends.tasks.run_route):
its SDK calls and a streamed answer's chunks go to the master by call_master.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from runtime import answers, context
from runtime.backends import fastwire, tasks
from runtime.http import Request, Response, rebuild_request
from runtime.registry.routing import CONVERTERS, CompiledPattern, compile_pattern
from runtime.sdk import transport

LARGE_ANSWER = 1 << 20
"""Bodies from this size go back as a message, in shared memory (pool.channel)."""


class _Route(NamedTuple):
    handler: Callable[[Request], Any]  # found by its name once, as run_route would each time
    pattern: CompiledPattern
    name: str                          # the handler's name in logs and request ids


@functools.lru_cache(maxsize=1024)
def _route(descriptor: str) -> _Route:
    found = json.loads(descriptor)
    handler = tasks.resolved(tasks.HandlerRef(found["module"], found["qualname"]))
    return _Route(handler, compile_pattern(found["pattern"]), str(found["name"]))


def _decoded(query: dict[str, str]) -> dict[str, str]:
    if not query:
        return {}
    from urllib.parse import unquote_plus

    return {unquote_plus(k): unquote_plus(v) for k, v in query.items()}


def request_of(frame: fastwire.FastRequest, pattern: CompiledPattern) -> Request:
    params: dict[str, Any] = {}
    if pattern.param_names:
        params = {name: CONVERTERS[conv].convert(text) for name, conv, text
                  in zip(pattern.param_names, pattern.converters, frame.groups, strict=False)}
    # The frame's values are Orthanc's, as the Python path's: no checks to make again.
    return rebuild_request(frame.method, frame.url, params, frame.groups, _decoded(frame.get),
                           tuple(frame.headers.items()), frame.body, pattern.source)


def answer(data: bytes) -> bytes | Response:
    """The answer frame to a request frame, or the Response the master's Python writes (which
    adds ``X-Request-Id`` itself, in the request's context: fast_lane)."""
    frame = fastwire.decode_request(data)
    route = _route(frame.descriptor)
    request = request_of(frame, route.pattern)
    running = context.enter(route.name, frame.request_id or None)
    try:
        response = tasks.run_route(route.handler, request)
    finally:
        transport.flush_logs()
        context.leave(running)
    if len(response.body) >= LARGE_ANSWER or answers.refusal(response) is not None:
        return response
    plan = fastwire.plan_of(response)
    if not frame.request_id or (plan.headers and any(
            k.lower() == "x-request-id" for k, _ in plan.headers)):
        return fastwire.encode_answer(plan)
    return fastwire.encode_answer(plan, ((context.REQUEST_ID_HEADER, frame.request_id),))


def install() -> None:
    """Makes this worker answer the fast path's frames (runtime.worker.initialize)."""
    from pool.worker import set_raw_handler

    set_raw_handler(answer)
