"""The worker side of offloaded handlers.

The pool's fork server imports this module first, then the user script, so
that in every worker ``import orthanc`` is the compatibility module whose SDK
calls travel back to the master. The functions below are what the master
submits: they run a handler and shape its answer for the trip back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import compat, settings
from .errors import HandlerAborted
from .http import Request, to_response

sys.modules.setdefault("orthanc", compat)


def initialize(section: dict[str, Any]) -> None:
    """Runs once in each worker before its first task."""
    sys.modules.setdefault("orthanc", compat)
    settings.install(section)


def run_route(handler: Callable[[Request], Any], request: Request) -> tuple[tuple[Any, ...], bytes]:
    """Calls a route handler; the body travels apart so that a large one crosses in shared memory.

    A BaseException that is not an Exception (``sys.exit()``, KeyboardInterrupt,
    a class of the script's own) becomes :class:`HandlerAborted`: re-raised as
    itself in the master, it would unwind Orthanc's thread as if the process
    were stopping.
    """
    try:
        response = to_response(handler(request))
    except Exception:
        raise
    except BaseException as error:
        raise HandlerAborted(type(error).__name__) from error
    return (response.status, response.content_type, dict(response.headers)), response.body


def run_event(handler: Callable[[Any], Any], event: Any) -> None:
    """Calls an on-change or on-stored-instance handler."""
    handler(event)
