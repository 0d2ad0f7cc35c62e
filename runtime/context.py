"""Which handler runs, for which request: a request id that follows it across processes.

Each request, event delivery, DICOM service call and job run gets one
:class:`Running` where it enters the runtime (runtime.callbacks.*, the fast
path's frame), held in a :class:`contextvars.ContextVar` of the process that
runs the handler::

    master: Orthanc thread      enter(handler, id)   -> logs, error answers, X-Request-Id
        | task message (carried()) or fast-path frame (its request id)
    worker: the task             adopt(carried)      -> logs (through the master), SDK calls
        | SDK call back: served by the master thread of that request, in its context

An id is a per-process prefix and a counter (``3f9a-17``): cheaper than a uuid a
request, unique enough to find a request's lines in a log. A client's own
``X-Request-Id`` is kept when it is short and printable (:func:`accepted`).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import secrets
import time
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 64
_ACCEPTED = re.compile(rf"[!-~]{{1,{MAX_REQUEST_ID}}}")  # printable ASCII, no space

_PREFIX = secrets.token_hex(2)
_counter = itertools.count(1)


class Running(NamedTuple):
    """What runs now: the handler's name, the request id, and the trace context (W3C
    ``traceparent``) of its span when tracing is on (runtime.sdk.telemetry), else ""; ``sent``:
    when the master sent it to a worker (ns since the epoch), for the worker's queue span."""

    handler: str
    request_id: str
    traceparent: str = ""
    sent: int = 0


_current: ContextVar[Running | None] = ContextVar("orthanc_runtime_running", default=None)


def new_request_id() -> str:
    """A fresh id: this process's prefix and a counter."""
    return f"{_PREFIX}-{next(_counter)}"


def accepted(value: str | None) -> str | None:
    """A client's request id if it may be kept (1-64 printable ASCII characters, no space),
    else None."""
    if value and _ACCEPTED.fullmatch(value):
        return value
    return None


def from_headers(headers: Any) -> str:
    """The client's ``X-Request-Id`` from ``(name, value)`` pairs or a mapping, if accepted,
    else a new id."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    for name, value in pairs:
        if len(name) == 12 and name.lower() == "x-request-id":
            return accepted(value) or new_request_id()
    return new_request_id()


def current() -> Running | None:
    """What runs on this thread (or task) now, or None."""
    return _current.get()


def request_id() -> str | None:
    """The id of the request (or event, job run, DICOM call) whose handler is running, or None
    outside one. The same in the master and in the worker that runs an offloaded handler; it is
    the ``X-Request-Id`` of a REST answer and the ``request_id`` of an error answer.

        >>> from runtime import request_id
        >>> request_id() is None   # outside a handler
        True
    """
    running = _current.get()
    return running.request_id if running is not None else None


def prefix() -> str:
    """``"[handler=checksum req=3f9a-17] "`` for a log line written while a handler runs, else
    ``""``."""
    running = _current.get()
    if running is None:
        return ""
    return f"[handler={running.handler or '-'} req={running.request_id}] "


def enter(handler: str, request_id: str | None = None, traceparent: str = "") -> Token[Any]:
    """Marks ``handler`` as running for ``request_id`` (a new one if None); :func:`leave` with
    the token it returns ends it."""
    return _current.set(Running(handler, request_id or new_request_id(), traceparent))


def leave(token: Token[Any]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def entered(handler: str, request_id: str | None = None) -> Iterator[Running]:
    """``with entered("on_new_study"):``: :func:`enter`, :func:`leave` at the end."""
    token = enter(handler, request_id)
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


def carried() -> Running | None:
    """What a task message carries to the worker (a small named tuple), or None."""
    running = _current.get()
    if running is not None and running.traceparent:
        return running._replace(sent=time.time_ns())
    return running


def adopt(running: Running | None) -> Token[Any]:
    """In a worker: runs the task in the master's context (:func:`carried`)."""
    return _current.set(running)
