"""Orthanc's log, for the runtime's own lines: ``logs.write("warning", "...")``.

One name per level, the SDK's (LogInfo, LogWarning, LogError), through the
transport: in a worker outside a task they go to the worker's stderr, which is
Orthanc's (runtime.sdk.transport). A line written while a handler runs starts
with its name and request id (runtime.context.prefix), as the script's own
``logging`` lines do (runtime.sdk.pylog).
"""

from __future__ import annotations

from runtime import context
from runtime.sdk import transport

_CALLS = {"info": "LogInfo", "warning": "LogWarning", "error": "LogError"}


def write(level: str, message: str) -> None:
    """Logs ``message`` at ``level``: ``info``, ``warning`` or ``error``. Never raises: a log
    that cannot be written must not stop the request, the delivery or the start that wrote it."""
    try:
        transport.call(_CALLS[level], context.prefix() + message)
    except Exception:
        pass
