"""Master-side dispatch: from the native trampolines to the handlers, and back.

    Orthanc HTTP thread --on_rest(output, url, request)--> route lookup --> handler
                                                      (inline, or executor.run_route)
                        <--answer written to output-- Response / error JSON
    Orthanc change thread --on_change(type, level, id)--> runtime.delivery (durable
                                                      feeds of the change log) --> listeners
    Orthanc ingest thread --on_stored_instance(dicom, id)--> runtime.delivery (the
                                                      official plugin's style of handler)

Every error answers JSON with a fitting status; the traceback goes to
Orthanc's log with the handler's name.
"""

from __future__ import annotations

import time
import traceback
from typing import Any
from urllib.parse import unquote_plus

from pool import PoolClosed, PoolFull, TaskTimeout, WorkerCrashed

from . import backend, compat, delivery, executor, settings
from .enums import ChangeType
from .errors import OrthancException, http_status_of
from .http import (
    Headers,
    HTTPError,
    MethodNotAllowed,
    Request,
    Response,
    error_response,
    to_response,
)
from .registry import Route, RouteHandler, registry


def _log_error(message: str) -> None:
    try:
        backend.call("log_error", message)
    except Exception:  # the log itself must never take a request down
        pass


def _log_exception(where: str, error: BaseException) -> None:
    text = "".join(traceback.format_exception(error)).rstrip()
    _log_error(f"{where}: {type(error).__name__}: {error}\n{text}")


# -- REST -------------------------------------------------------------------

def error_to_response(error: BaseException, where: str, route: str) -> Response:
    """The JSON answer for an exception raised while handling a request."""
    kind = type(error).__name__
    if isinstance(error, HTTPError):
        return error_response(error.status, error.message, route=route, type_name=kind,
                              headers=error.headers, **error.extra)
    if isinstance(error, OrthancException):
        status = http_status_of(error)
        if status >= 500:
            _log_exception(where, error)
        return error_response(status, error.message, route=route, type_name=kind,
                              orthanc_code=error.code)
    if isinstance(error, PoolFull):
        return error_response(503, "all workers are busy and the queue is full; retry later",
                              route=route, type_name=kind, headers={"Retry-After": "1"})
    if isinstance(error, PoolClosed):
        return error_response(503, "Orthanc is stopping", route=route, type_name=kind)
    if isinstance(error, TaskTimeout):
        _log_error(f"{where}: timed out after {error.seconds} s; its worker was replaced")
        return error_response(504, str(error), route=route, type_name=kind)
    if isinstance(error, WorkerCrashed):
        _log_error(f"{where}: {error}")
        return error_response(502, str(error), route=route, type_name=kind)
    _log_exception(where, error)
    return error_response(500, str(error) or kind, route=route, type_name=kind)


def _write(output: Any, response: Response) -> None:
    for key, value in response.headers.items():
        if key.lower() not in ("content-type", "content-length"):
            output.set_http_header(key, value)
    status = response.status
    if status == 200:
        output.answer_buffer(response.body, response.content_type)
    # Orthanc has a dedicated call for these three, and no body for them.
    elif status == 405:
        output.send_method_not_allowed(response.headers.get("Allow", ""))
    elif status == 401:
        output.send_unauthorized(response.headers.get("WWW-Authenticate", "orthanc-runtime"))
    elif status == 301:
        output.redirect(response.headers.get("Location", "/"))
    else:
        if status not in (204, 304):  # no body, so no type
            output.set_http_header("Content-Type", response.content_type)
        output.send_http_status(status, response.body)


def write(output: Any, response: Response) -> None:
    """Writes a Response to Orthanc's RestOutput; a status Orthanc refuses answers 500."""
    try:
        _write(output, response)
    except OrthancException as error:
        _log_error(f"orthanc-runtime: Orthanc refused to answer HTTP {response.status}: {error}")
        fallback = error_response(
            500, f"Orthanc cannot answer HTTP status {response.status}: {error.message}",
            type_name="UnsupportedStatus")
        output.set_http_header("Content-Type", fallback.content_type)
        output.send_http_status(500, fallback.body)


def _decoded(query: dict[str, str] | None) -> dict[str, str]:
    """Orthanc hands query values as they were sent; Request.query holds them decoded."""
    if not query:
        return {}
    return {unquote_plus(k): unquote_plus(v) for k, v in query.items()}


def _call_runtime(route: Route, entry: RouteHandler, url: str, request: dict[str, Any],
                  params: dict[str, Any], groups: tuple[str, ...]) -> Response:
    method = request["method"]
    where = f"{entry.name} ({method} {url})"
    try:
        req = Request(
            method=method,
            path=url,
            params=params,
            groups=groups,
            query=_decoded(request.get("get")),
            headers=Headers.from_orthanc(request["headers"]),
            body=request.get("body", b""),
            route=route.pattern.source,
        )
        offload = entry.offload
        if offload is None:
            return to_response(entry.handler(req))
        return executor.run_route(entry.handler, req, offload.timeout)
    except BaseException as error:
        if not isinstance(error, Exception):
            raise
        return error_to_response(error, where, route.pattern.source)


def _call_compat(route: Route, entry: RouteHandler, output: Any, url: str,
                 request: dict[str, Any]) -> None:
    out = compat.RestOutput(output)
    try:
        entry.handler(out, url, **request)
    except Exception as error:
        where = f"{entry.name} ({request['method']} {url})"
        response = error_to_response(error, where, route.pattern.source)
        if not out.answered:
            write(output, response)


class InFlight:
    """The requests being handled, so that a stop can wait for them.

    A set of tokens rather than a counter under a lock: adding and discarding
    are atomic under the GIL, and this is on every request's path.
    """

    def __init__(self) -> None:
        self._tokens: set[object] = set()

    @property
    def count(self) -> int:
        return len(self._tokens)

    def enter(self) -> object:
        token = object()
        self._tokens.add(token)
        return token

    def leave(self, token: object) -> None:
        self._tokens.discard(token)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._tokens:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True


in_flight = InFlight()


def on_rest(output: Any, url: str, request: dict[str, Any]) -> None:
    token = in_flight.enter()
    try:
        _on_rest(output, url, request)
    finally:
        in_flight.leave(token)


def _on_rest(output: Any, url: str, request: dict[str, Any]) -> None:
    found = registry.match(url)
    if found is None:
        write(output, error_response(404, f"no route matches {url}"))
        return
    route, params, groups = found
    entry = route.handler_for(request["method"])
    if entry is None:
        refused = MethodNotAllowed(route.allowed, f"{request['method']} is not allowed on "
                                                  f"{route.pattern.source}")
        write(output, error_to_response(refused, url, route.pattern.source))
        return
    if entry.style == "compat":
        _call_compat(route, entry, output, url, request)
    else:
        write(output, _call_runtime(route, entry, url, request, params, groups))


# -- events (runtime.delivery) ---------------------------------------------------

shutdown_deadline: float | None = None
"""time.monotonic() by which the stop that ORTHANC_STOPPED began must be over."""


def on_change(change_type: int, level: int, resource_id: str | None) -> None:
    global shutdown_deadline
    if change_type != ChangeType.ORTHANC_STOPPED:
        delivery.on_change(change_type, level, resource_id)
        return
    # Orthanc signals this on its main thread before it stops its HTTP server,
    # which cuts every answer not yet written, and its database, which the event
    # checkpoints live in. Within ShutdownGrace: the requests in flight finish,
    # the handlers catch up with the change log, they hear ORTHANC_STOPPED, and
    # their checkpoints are saved. Changes recorded after that are delivered
    # after the next start.
    grace = float(settings.config.get("Pool", {}).get("ShutdownGrace", 10))
    shutdown_deadline = time.monotonic() + grace
    if not in_flight.wait_idle(grace):
        _log_error(f"orthanc-runtime: {in_flight.count} request(s) still running after "
                   f"ShutdownGrace ({grace} s); Orthanc stops anyway")
    delivery.hub.drain(shutdown_deadline)
    delivery.on_change(change_type, level, resource_id)
    delivery.hub.stop(shutdown_deadline)


on_stored_instance = delivery.on_stored_instance
