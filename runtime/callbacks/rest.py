"""Master-side dispatch: from the native trampolines to the handlers, and back.

    Orthanc HTTP thread --RestApi.on_rest(output, url, request)--> route lookup --> entry.invoke
                                                      (runtime.registry.invoke: inline,
                                                      offloaded, or an official-style callback)
                        <--answer written to output-- Response / error JSON

The session (runtime.plugin.session) makes one RestApi over its registry and hands
``on_rest`` to the native code; events go to runtime.callbacks.changes.

Every error answers JSON with a fitting status (runtime.answers); the
traceback goes to Orthanc's log with the handler's name and an error id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from runtime import answers, context
from runtime.backends import fastwire, streams
from runtime.errors import OrthancException
from runtime.http import (
    Headers,
    MethodNotAllowed,
    Request,
    Response,
    StreamingResponse,
    chunk_bytes,
    error_response,
    rebuild_request,
)
from runtime.registry import Handler, Registry, Route
from runtime.registry import invoke as invoking
from runtime.sdk import telemetry, transport


def _log_error(message: str) -> None:
    answers.log_error(message)


def _log_exception(where: str, error: BaseException) -> None:
    answers.log_exception(where, error, answers.new_error_id())


# -- REST -------------------------------------------------------------------

error_to_response = answers.error_to_response


def _write(output: Any, response: Response) -> None:
    fastwire.write_plan(output, fastwire.plan_of(response))


def _name_request(output: Any, headers: Any) -> None:
    """The answer's ``X-Request-Id``: the running request's id, unless the handler set one."""
    running = context.current()
    if running is not None and not any(k.lower() == "x-request-id" for k in headers):
        output.set_http_header(context.REQUEST_ID_HEADER, running.request_id)


def _can_stream() -> bool:
    return bool(transport.call("streaming_available"))


def _stream(output: Any, response: StreamingResponse, where: str, route: str) -> None:
    """Sends a generator's chunks as they come where Orthanc can (1.12.6), else joined.

    The first chunk is asked for before anything is sent, so that a handler that
    fails at once answers JSON as any other; a failure after that cuts the
    answer short, and the log names the handler and the cause.
    """
    chunks = iter(response.chunks)
    try:
        first = chunk_bytes(next(chunks, b""))
        if not _can_stream():
            write(output, Response(first + b"".join(chunk_bytes(c) for c in chunks), 200,
                                   response.content_type, response.headers), where)
            return
    except BaseException as error:
        write(output, error_to_response(error, where, route), where)
        return
    refused = answers.refusal(Response(b"", 200, response.content_type, response.headers))
    if refused is not None:
        write(output, refused, where)  # logs why
        return
    try:
        for key, value in response.headers.items():
            output.set_http_header(key, value)
        _name_request(output, response.headers)
        output.start_stream_answer(response.content_type)
    except OrthancException as error:  # nothing sent yet: the client still gets an answer
        write(output, error_to_response(error, where, route), where)
        return
    sent = 0
    try:
        chunk = first
        while True:
            if chunk:  # an empty one has nothing to send
                output.send_stream_chunk(chunk)
                sent += len(chunk)
            chunk = chunk_bytes(next(chunks))
    except StopIteration:
        return
    except BaseException as error:
        answers.log_exception(f"{where}: the streamed answer is cut after {sent} bytes",
                              error, answers.new_error_id())
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:  # a generator's finally blocks run now, not at its collection
            close()


def write(output: Any, response: Response | StreamingResponse, where: str = "",
          route: str = "") -> None:
    """Writes a Response to Orthanc's RestOutput, or 500 JSON saying why Orthanc cannot send it.

    The check comes first: Orthanc drops an answer whose status it does not
    know, and writes header lines as given.
    """
    if isinstance(response, StreamingResponse):
        _stream(output, response, where, route)
        return
    refused = answers.refusal(response)
    if refused is not None:
        body = refused.body.decode()
        answers.log_error(f"{where or 'orthanc-runtime'}: answer refused, 500 sent instead: {body}")
        response = refused
    try:
        _name_request(output, response.headers)
        _write(output, response)
    except OrthancException as error:
        # What the check above does not foresee (Orthanc refuses a call): a
        # header may be set already, but nothing was sent.
        answers.log_error(f"{where or 'orthanc-runtime'}: Orthanc refused to answer "
                          f"HTTP {response.status}: {error}")
        fallback = answers.error_response(
            500, f"Orthanc cannot answer HTTP status {response.status}: {error.message}",
            type_name="UnsupportedStatus")
        output.set_http_header("Content-Type", fallback.content_type)
        output.send_http_status(500, fallback.body)


def _decoded(query: dict[str, str] | None) -> dict[str, str]:
    """Orthanc hands query values as they were sent; Request.query holds them decoded."""
    if not query:
        return {}
    return {unquote_plus(k): unquote_plus(v) for k, v in query.items()}


class _RouteInvoker:
    """A decorated route's invoker: ``(output, url, request, params, groups, pattern)`` -> the
    Response to write; ``run`` takes the Request itself (what an inline route's serve calls,
    :meth:`RestApi.serve_of`)."""

    __slots__ = ("run",)

    def __init__(self, run: invoking.Run) -> None:
        self.run = run

    def __call__(self, output: Any, url: str, request: dict[str, Any], params: dict[str, Any],
                 groups: tuple[str, ...], pattern: str) -> Response | StreamingResponse:
        return self.run(Request(  # type: ignore[no-any-return]
            method=request["method"],
            path=url,
            params=params,
            groups=groups,
            query=_decoded(request.get("get")),
            headers=Headers.from_orthanc(request["headers"]),
            body=request.get("body", b""),
            route=pattern,
        ))


def _route_glue(entry: Handler, run: invoking.Run) -> Any:
    """A route's invoker (:class:`_RouteInvoker`). An official-style callback's
    (runtime.compat) takes the same arguments and answers itself; it returns what is left to
    write, or None."""
    return _RouteInvoker(run)


def _not_allowed(route: Route, method: str, url: str) -> Response:
    """The answer to a method that no handler of ``route`` takes."""
    refused = MethodNotAllowed(route.allowed, f"{method} is not allowed on {route.pattern.source}")
    return error_to_response(refused, url, route.pattern.source)


def bind(routes: Registry, binder: invoking.Binder) -> None:
    """Binds each route's invoker (runtime.registry.invoke), once, at registration."""
    for entry in routes.route_handlers():
        binder.bind(entry, "route", _route_glue)


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


def _writer(in_flight: InFlight, response: Response | StreamingResponse, where: str,
            route: str) -> Callable[[Any], None]:
    """What an inline route's serve answers when the native code cannot send the answer
    itself: writes it with Orthanc's RestOutput (in flight meanwhile, as in on_rest: a stream
    may take long)."""

    running = context.carried()  # the request's, again while the native code calls write_it

    def write_it(output: Any) -> None:
        token = in_flight.enter()
        entered = context.adopt(running)
        try:
            write(output, response, where, route)
        finally:
            context.leave(entered)
            in_flight.leave(token)

    return write_it


class RestApi:
    """The REST callback of one start of the plugin: matches its registry's routes, runs the
    handler through its invoker, writes the answer; counts the requests in flight, so that
    a stop can wait for them."""

    def __init__(self, routes: Registry, binder: invoking.Binder | None = None) -> None:
        self.routes = routes
        self.binder = binder
        self.in_flight = InFlight()

    def on_rest(self, output: Any, url: str, request: dict[str, Any]) -> None:
        token = self.in_flight.enter()
        running = context.enter("", context.from_headers(request["headers"]))
        try:
            self._on_rest(output, url, request)
        finally:
            context.leave(running)
            self.in_flight.leave(token)

    def serve_of(self, route: Route) -> Callable[..., Any] | None:
        """What the native callback of ``route`` calls for each request (inline_path.cpp), or
        None when a handler of it is offloaded or official-style (those go through
        :meth:`on_rest`, which gives them Orthanc's RestOutput while they run), or while
        tracing is on.

        ``serve(url, method, headers, get, body)`` runs the route's handler as :meth:`on_rest`
        does (Orthanc matched the route already) and answers ``(body, content_type,
        request_id)`` for a plain 200, which the native code sends without the GIL (with
        ``X-Request-Id``), or else a callable that
        writes the answer with Orthanc's RestOutput. ``headers`` are ``(name, value)`` pairs;
        ``get`` the GET arguments or None. Made again whenever the handlers are bound (start,
        reload).
        """
        entries = [*route.by_method.values(), *([route.any_method] if route.any_method else [])]
        if any(e.adapter is not None or e.offload is not None for e in entries):
            return None
        if telemetry.active():  # a span a request: on_rest makes it (runtime.sdk.telemetry)
            return None
        runs = {method: self._run_of(entry) for method, entry in route.by_method.items()}
        any_run = self._run_of(route.any_method) if route.any_method is not None else None
        names = {method: entry.name for method, entry in route.by_method.items()}
        any_name = route.any_method.name if route.any_method is not None else ""
        pattern = route.pattern
        source = pattern.source
        # Without values to take, Orthanc's match is the whole story; with them, they are
        # converted from Python's match as on_rest does.
        plain = not pattern.takes_values
        in_flight = self.in_flight
        unsafe = answers.unsafe_text

        def serve(url: str, method: str, headers: tuple[tuple[str, str], ...],
                  get: dict[str, str] | None, body: bytes) -> Any:
            token = in_flight.enter()
            request_id = context.from_headers(headers)
            running = context.enter(names.get(method, any_name), request_id)
            try:
                if plain:
                    params: dict[str, Any] = {}
                    groups: tuple[str, ...] = ()
                else:
                    found = pattern.match(url)
                    if found is None:  # boost matched, Python's re did not: as on_rest
                        missing = error_response(404, f"no route matches {url}")
                        return _writer(in_flight, missing, "", "")
                    params, groups = found
                run = runs.get(method, any_run)
                if run is None:
                    return _writer(in_flight, _not_allowed(route, method, url), "", "")
                request = rebuild_request(method, url, params, groups, _decoded(get), headers,
                                          body, source)
                try:
                    response = run(request)
                except BaseException as error:  # as on_rest: every failure answers
                    response = error_to_response(
                        error, f"{names.get(method, any_name)} ({method} {url})", source)
                if type(response) is Response and response.status == 200 \
                        and not response.headers and not unsafe(response.content_type):
                    return response.body, response.content_type, request_id
                return _writer(in_flight, response,
                               f"{names.get(method, any_name)} ({method} {url})", source)
            finally:
                context.leave(running)
                in_flight.leave(token)

        return serve

    def _run_of(self, entry: Handler) -> invoking.Run:
        invoke = entry.invoke or self._bound(entry)
        assert isinstance(invoke, _RouteInvoker)  # a decorated route's (serve_of checked)
        return invoke.run

    def _bound(self, entry: Handler) -> Any:
        """A route recorded after the plugin bound its routes (a test) is bound at its first
        request."""
        (self.binder or invoking.inline_binder()).bind(entry, "route", _route_glue)
        return entry.invoke

    def _on_rest(self, output: Any, url: str, request: dict[str, Any]) -> None:
        found = self.routes.match(url)
        if found is None:
            write(output, error_response(404, f"no route matches {url}"))
            return
        route, params, groups = found
        entry = route.handler_for(request["method"])
        if entry is None:
            write(output, _not_allowed(route, request["method"], url))
            return
        context.enter(entry.name, context.request_id())  # reset with on_rest's
        if telemetry.active():
            with telemetry.dispatch(entry.name, context.request_id() or "", request["method"],
                                    url) as span:
                telemetry.answered(span, self._answer(output, url, request, entry, route,
                                                      params, groups))
            return
        self._answer(output, url, request, entry, route, params, groups)

    def _answer(self, output: Any, url: str, request: dict[str, Any], entry: Handler,
                route: Route, params: dict[str, Any], groups: tuple[str, ...]) -> int:
        """Runs the handler and writes its answer; the answer's status."""
        where = f"{entry.name} ({request['method']} {url})"
        pattern = route.pattern.source
        with streams.Sink(output) as sink:  # an offloaded generator's chunks go out through it
            try:
                invoke = entry.invoke or self._bound(entry)
                response = invoke(output, url, request, params, groups, pattern)
            except BaseException as error:
                # Whatever a handler raises, SystemExit and KeyboardInterrupt included,
                # answers: nothing a handler does may stop Orthanc or drop its answer.
                response = error_to_response(error, where, pattern)
        if response is None:  # answered already (an official-style callback)
            return 200
        if not sink.started:
            write(output, response, where, pattern)
        elif isinstance(response, Response) and response.status != 200:  # logged, with its id
            _log_error(f"{where}: the streamed answer is cut after {sink.sent} bytes: HTTP "
                       f"{response.status} {response.body[:300].decode(errors='replace')}")
        return response.status if isinstance(response, Response) else 200
