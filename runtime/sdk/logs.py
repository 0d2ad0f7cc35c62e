"""Orthanc's log, for the runtime's own lines: ``logs.write("warning", "...")``.

One name per level, the SDK's (LogInfo, LogWarning, LogError), through the
transport: in a worker outside a task they go to the worker's stderr, which is
Orthanc's (runtime.sdk.transport).
"""

from __future__ import annotations

from runtime.sdk import transport

_CALLS = {"info": "LogInfo", "warning": "LogWarning", "error": "LogError"}


def write(level: str, message: str) -> None:
    """Logs ``message`` at ``level``: ``info``, ``warning`` or ``error``. Never raises: a log
    that cannot be written must not stop the request, the delivery or the start that wrote it."""
    try:
        transport.call(_CALLS[level], message)
    except Exception:
        pass
