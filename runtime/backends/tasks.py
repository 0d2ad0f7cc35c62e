"""The tasks a backend runs in a worker: a handler, found by name, and its answer shaped.

A handler crosses to a worker as a :class:`HandlerRef` (module and qualified
name); the worker has imported the script (runtime.worker did, first), so the
name leads to the function there. A route's answer comes back as the
:class:`~runtime.http.Response` itself: its body pickles out of band
(``Response.__reduce_ex__``), so that a large one travels in shared memory.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from runtime import context
from runtime.backends import streams
from runtime.errors import HandlerAborted
from runtime.http import Request, Response, StreamingResponse, to_response
from runtime.sdk import transport


class HandlerRef:
    """A handler by its module and qualified name, found again in the worker.

    Pickle refers to functions the same way, but insists that the name still
    leads to the very object pickled: after a reload (runtime.plugin.reload), a
    request that matched the previous handlers would fail to cross. By name,
    it runs what the name leads to in the worker: a new pool's workers have
    imported the new code, the old pool's the old.
    """

    __slots__ = ("module", "qualname")

    def __init__(self, module: str, qualname: str) -> None:
        self.module = module
        self.qualname = qualname

    def __reduce__(self) -> tuple[Any, ...]:
        return HandlerRef, (self.module, self.qualname)

    def resolve(self) -> Callable[..., Any]:
        found: Any = sys.modules.get(self.module) or importlib.import_module(self.module)
        for part in self.qualname.split("."):
            found = getattr(found, part)
        return found  # type: ignore[no-any-return]

    @classmethod
    def of(cls, handler: Callable[..., Any]) -> HandlerRef | Callable[..., Any]:
        """The reference of a top-level handler; any other one crosses as itself (and pickle
        says why it cannot)."""
        module = getattr(handler, "__module__", None)
        qualname = getattr(handler, "__qualname__", "")
        if not module or "<" in qualname:
            return handler
        return cls(module, qualname)


def resolved(handler: Callable[..., Any] | HandlerRef) -> Callable[..., Any]:
    """The handler itself, found again by its name if it crossed as a reference."""
    return handler.resolve() if isinstance(handler, HandlerRef) else handler


def boot(module: str, section: dict[str, Any], imports: tuple[str, ...]) -> None:
    """The pool's initializer: ``module.initialize(section, imports)`` in the worker.

    The backend names the module that prepares a worker (runtime.worker) rather
    than importing it: that module belongs to the worker process, above the
    backends, and the master never runs it.
    """
    importlib.import_module(module).initialize(section, imports)


def in_context(running: context.Running | None, fn: Callable[..., Any], *args: Any) -> Any:
    """In a worker: ``fn(*args)`` as part of the master's request ``running`` (its handler's
    name and request id, for logs; its trace, for the worker's span: runtime.sdk.telemetry).
    The local pool's tasks all go through it (runtime.backends.executor)."""
    token = context.adopt(running)
    try:
        if running is not None and running.traceparent:
            from runtime.sdk import telemetry

            with telemetry.worker_span(running):
                return fn(*args)
        return fn(*args)
    finally:
        transport.flush_logs()  # the task's log lines, in one call to the master
        context.leave(token)


def run_route(handler: Callable[[Request], Any] | HandlerRef, request: Request) -> Response:
    """Calls a route handler; its Response crosses back whole.

    A streamed answer (a generator) goes to the master chunk by chunk where it can
    send them (runtime.backends.streams), else joined here.

    A BaseException that is not an Exception (``sys.exit()``, KeyboardInterrupt,
    a class of the script's own) becomes :class:`HandlerAborted`: re-raised as
    itself in the master, it would unwind Orthanc's thread as if the process
    were stopping.
    """
    try:
        response = to_response(resolved(handler)(request))
        if isinstance(response, StreamingResponse):  # chunk by chunk through the master, or joined
            response = streams.send_from_worker(response)
    except Exception:
        raise
    except BaseException as error:
        raise HandlerAborted(type(error).__name__) from error
    return response


def run_event(handler: Callable[[Any], Any] | HandlerRef, event: Any) -> None:
    """Calls an on-change or on-stored-instance handler."""
    resolved(handler)(event)


def run_gate(handler: Callable[[Any], Any] | HandlerRef, argument: Any) -> Any:
    """Calls a gate (an HTTP filter...) and returns its answer."""
    try:
        return resolved(handler)(argument)
    except Exception:
        raise
    except BaseException as error:
        raise HandlerAborted(type(error).__name__) from error

