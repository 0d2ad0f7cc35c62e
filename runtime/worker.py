"""The worker side of offloaded handlers.

The pool's fork server imports this module first, then the user script, so
that in every worker ``import orthanc`` is the compatibility module whose SDK
calls travel back to the master. The functions below are what the master
submits: they run a handler and shape its answer for the trip back.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from . import compat, settings, streams
from .errors import HandlerAborted
from .http import Request, StreamingResponse, to_response

sys.modules.setdefault("orthanc", compat)


class HandlerRef:
    """A handler by its module and qualified name, found again in the worker.

    Pickle refers to functions the same way, but insists that the name still
    leads to the very object pickled: after a reload (runtime.reload), a
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


def initialize(section: dict[str, Any], imports: tuple[str, ...] = ()) -> None:
    """Runs once in each worker before its first task; imports the scripts that may reload."""
    sys.modules.setdefault("orthanc", compat)
    settings.install(section)
    if imports:
        sys.dont_write_bytecode = True  # an edit within the second must not hit a stale .pyc
        for name in imports:
            importlib.import_module(name)


def run_route(handler: Callable[[Request], Any] | HandlerRef, request: Request) -> tuple[tuple[Any, ...], bytes]:
    """Calls a route handler; the body travels apart so that a large one crosses in shared memory.

    A streamed answer (a generator) goes to the master chunk by chunk where it can
    send them (runtime.streams), else joined here.

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
    return (response.status, response.content_type, dict(response.headers)), response.body


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

