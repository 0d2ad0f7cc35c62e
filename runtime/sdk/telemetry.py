"""OpenTelemetry traces of requests, across the master and its workers (the ``otel`` extra).

Configured by ``"Telemetry": {"Endpoint": ..., "ServiceName": ...}``; without it, or
without the packages, nothing of OpenTelemetry is imported and :func:`active` is
False, which is all the hot paths ask. With it, each REST request is a trace::

    master   dispatch <handler>        runtime.callbacks.rest: from the match to the answer
             (event <handler>          runtime.callbacks.changes: a delivery, to its handler's end)
               | traceparent (W3C), in the task message (runtime.context.Running)
    worker     queue                   from the master's send to the task's start
               worker run <handler>    the handler in the worker (runtime.backends.tasks)
                 sdk <call>            each SDK call the handler makes (runtime.sdk.transport)

Every span has ``orthanc_runtime.request_id`` (the answer's ``X-Request-Id``) and
``orthanc_runtime.handler``; each process exports its own spans over OTLP/HTTP
(a batch a second). Offloaded routes take the Python path while tracing is on
(runtime.backends.fast_lane.enabled): the C++ fast path makes no spans.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from runtime import context

REQUEST_ID = "orthanc_runtime.request_id"
HANDLER = "orthanc_runtime.handler"
EXPORT_DELAY_MS = 1000

_tracer: Any = None
_provider: Any = None
_settings: dict[str, Any] | None = None
_pid = 0


def wanted(section: dict[str, Any]) -> bool:
    """Whether the configuration asks for traces (the packages may still be missing)."""
    return bool((section.get("Telemetry") or {}).get("Endpoint"))


def configure(section: dict[str, Any]) -> str | None:
    """Sets tracing up in this process as ``section`` says (or off). Returns why it is off
    although asked for (the packages are not installed), else None."""
    global _settings, _tracer, _provider
    shutdown()
    if not wanted(section):
        _settings = None
        return None
    try:
        import opentelemetry.sdk.trace  # noqa: F401  (the extra is installed)
    except ImportError as error:
        _settings = None
        return (f"Telemetry.Endpoint is set but OpenTelemetry is not installed ({error}); "
                "install orthanc-runtime[otel]")
    _settings = dict(section["Telemetry"])
    _start()
    return None


def _start() -> None:
    """The tracer of this process (a worker makes its own: spans are exported per process)."""
    global _tracer, _provider, _pid
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    assert _settings is not None
    resource = Resource.create({"service.name": _settings.get("ServiceName", "orthanc"),
                                "process.pid": os.getpid()})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=_settings["Endpoint"]), schedule_delay_millis=EXPORT_DELAY_MS))
    _provider, _tracer, _pid = provider, provider.get_tracer("orthanc-runtime"), os.getpid()


def _tracer_here() -> Any:
    """The tracer, made anew in a process forked from one that had it (a worker)."""
    if _settings is not None and _pid != os.getpid():
        _start()
    return _tracer


def active() -> bool:
    return _settings is not None


def shutdown() -> None:
    """Exports what is left and stops (the plugin's stop, a worker's end)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        try:
            provider.shutdown()
        except Exception:
            pass


def flush() -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)


def _traceparent() -> str:
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


@contextlib.contextmanager
def dispatch(handler: str, request_id: str, method: str, url: str) -> Iterator[Any]:
    """The master's span of a request; yields the span (None if tracing is off). The running
    request (runtime.context) gets its traceparent, which its task carries to the worker."""
    tracer = _tracer_here()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(f"dispatch {handler}", attributes={
            REQUEST_ID: request_id, HANDLER: handler, "http.request.method": method,
            "url.path": url}) as span:
        token = context.enter(handler, request_id, _traceparent())
        try:
            yield span
        finally:
            context.leave(token)


def start_event(handler: str, request_id: str) -> tuple[Any, str]:
    """The master's span of an event's delivery, ended by :func:`event_ended` when its handler
    is done (in a worker, later); and the traceparent its task carries."""
    tracer = _tracer_here()
    if tracer is None:
        return None, ""
    from opentelemetry.propagate import inject
    from opentelemetry.trace import set_span_in_context

    span = tracer.start_span(f"event {handler}",
                             attributes={REQUEST_ID: request_id, HANDLER: handler})
    carrier: dict[str, str] = {}
    inject(carrier, context=set_span_in_context(span))
    return span, carrier.get("traceparent", "")


def event_ended(span: Any, error: BaseException | None) -> None:
    if span is None:
        return
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


def answered(span: Any, status: int) -> None:
    """Marks the dispatch span with the answer's status (an error from 500 on)."""
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))


@contextlib.contextmanager
def worker_span(running: context.Running) -> Iterator[None]:
    """In a worker: the queue wait (from the master's send) and the run of the handler, both
    children of the master's dispatch span named by ``running.traceparent``."""
    tracer = _tracer_here()
    if tracer is None:
        yield
        return
    from opentelemetry.propagate import extract

    parent = extract({"traceparent": running.traceparent})
    attributes = {REQUEST_ID: running.request_id, HANDLER: running.handler}
    started = time.time_ns()
    if running.sent:
        queue = tracer.start_span("queue", context=parent, start_time=running.sent,
                                  attributes=attributes)
        queue.end(end_time=started)
    with tracer.start_as_current_span(f"worker run {running.handler}", context=parent,
                                      start_time=started, attributes=attributes):
        yield


@contextlib.contextmanager
def sdk_call(name: str) -> Iterator[None]:
    """A client span around an SDK call that a worker's handler makes through the master."""
    tracer = _tracer_here()
    if tracer is None:
        yield
        return
    running = context.current()
    attributes = {"orthanc_runtime.sdk_call": name}
    if running is not None:
        attributes[REQUEST_ID] = running.request_id
        attributes[HANDLER] = running.handler
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(f"sdk {name}", kind=SpanKind.CLIENT,
                                      attributes=attributes):
        yield
