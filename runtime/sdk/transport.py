"""Where an SDK call goes: the native binding in the master, the master from a worker.

Inside Orthanc, runtime.plugin hands this module the embedded binding
``_orthanc_native``. In a worker of the pool there is no binding: runtime.worker
hands this module the pool's way back to the master (use_master), the calls
listed in proxied() travel that way, and the master serves them with the
binding; nothing else can be called from a worker. This module imports nothing
of the pool. Outside both,
every call raises NotInOrthanc. The SDK functions of the ``orthanc`` module
that a worker may call come from the generated model (runtime.sdk.catalog.WORKER_CALLS).
In a worker of a Dask cluster (runtime.worker.dask_cluster), calls go to Orthanc's
REST API instead (runtime.sdk.remote), through the resolver of set_remote.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from runtime import context
from runtime.errors import NotInOrthanc
from runtime.sdk import catalog, objects, telemetry

# The runtime's own calls a worker may make through the master. Registration
# and answers to a request belong to the master alone.
# The runtime's own calls a worker may make, besides the SDK's (runtime.sdk.catalog): the
# running Orthanc's version, and a key-value store's items read in one call.
RUNTIME_PROXIED = frozenset({"orthanc_version", "key_value_items"})
_PROXIED = RUNTIME_PROXIED | catalog.WORKER_CALLS | catalog.VALUE_CALLS

# In a worker outside a task (while the script is imported by the fork server
# or a new worker) the master cannot be reached: logs go to the worker's
# stderr, which is Orthanc's, and what Orthanc's configuration says is read
# from the file the master wrote for its workers (WORKER_CONTEXT_VARIABLE).
WORKER_CONTEXT_VARIABLE = "ORTHANC_RUNTIME_WORKER_CONTEXT"
_LOCAL_IN_WORKER = {"GetConfiguration": "configuration",
                    "GetConfigurationPath": "configuration_path",
                    "orthanc_version": "orthanc_version"}
_LOG_LEVELS = {"LogInfo": "I", "LogWarning": "W", "LogError": "E"}

# A worker's log lines during a task wait here and go to the master together (LOG_BATCH a
# call): at the end of the task (flush_logs), before any other call to the master (so that
# the order of what reaches Orthanc is kept), at once for an error line, or when
# LOG_BATCH are waiting. A worker that dies abruptly loses its waiting INFO and WARNING lines.
_LOG_CALLS = frozenset({*_LOG_LEVELS, "LogMessage"})
LOG_BATCH = 100
_waiting_logs: list[tuple[str, tuple[Any, ...]]] = []

_native: Any = None
_worker_context: dict[str, str] | None = None
_remote: Callable[[], Any] | None = None
_master_call: Callable[..., Any] | None = None


def _never() -> bool:
    return False


_in_task: Callable[[], bool] = _never


def proxied() -> frozenset[str]:
    """Every call a worker may make: the runtime's, and the generated model's."""
    return _PROXIED


def require_orthanc(what: str, major: int, minor: int, revision: int) -> None:
    """In the master: raises OrthancException (NOT_IMPLEMENTED) naming the version ``what``
    needs when the running Orthanc is older. Elsewhere (a worker importing the script, where
    registrations record nothing) it checks nothing."""
    if _native is not None and not _native.orthanc_at_least(major, minor, revision):
        from runtime.errors import OrthancException

        raise OrthancException(2, f"{what} needs Orthanc {major}.{minor}.{revision} or newer; "
                                  f"this is Orthanc {_native.orthanc_version()}")


def set_native(module: Any) -> None:
    global _native
    _native = module


def use_master(call: Callable[..., Any], in_task: Callable[[], bool]) -> None:
    """In a worker of the pool: ``call(name, *args)`` asks the master (pool.call_master), which
    works while ``in_task()`` says a task runs (before, at the script's import, it cannot)."""
    global _master_call, _in_task
    _master_call, _in_task = call, in_task


def in_worker_task() -> bool:
    """Whether this is a worker of the pool running a task, which can ask the master."""
    return _master_call is not None and _in_task()


def reaches_orthanc() -> bool:
    """Whether an SDK call reaches Orthanc from here now: in the master, or a worker's task."""
    return _native is not None or in_worker_task()


def to_master(name: str, *args: Any) -> Any:
    """Calls the master function ``name`` from a worker's task (a function the master
    serves besides the SDK's: a job's report, say)."""
    if _master_call is None or not _in_task():
        raise NotInOrthanc(f"{name}: only a task running in a worker of the pool can ask the master")
    if _waiting_logs:
        flush_logs()
    return _master_call(name, *args)


def _log_later(name: str, args: tuple[Any, ...]) -> None:
    """A worker's log line, sent with the next batch (see LOG_BATCH)."""
    _waiting_logs.append((name, args))
    if name == "LogError" or (name == "LogMessage" and args[-1] == 0) or \
            len(_waiting_logs) >= LOG_BATCH:
        flush_logs()


def flush_logs() -> None:
    """Sends a worker's waiting log lines to the master (the end of a task calls it). Never
    raises: a line that cannot reach the master is dropped."""
    if not _waiting_logs:
        return
    lines = _waiting_logs[:]
    del _waiting_logs[:len(lines)]  # a line appended meanwhile (a thread of the task) stays
    if _master_call is None or not _in_task():
        return
    try:
        _master_call("log_lines", lines)
    except Exception:
        pass


def _log_lines(lines: list[tuple[str, tuple[Any, ...]]]) -> None:
    """In the master: a worker's batch of log lines, each an SDK log call."""
    for name, args in lines:
        if name not in _LOG_CALLS:
            continue
        try:
            getattr(_native, name)(*args)
        except Exception:
            if name == "LogMessage":  # refused by this Orthanc: the plain call of its level
                level = args[-1] if args else 2
                _native.LogError(args[0]) if level == 0 else \
                    _native.LogWarning(args[0]) if level == 1 else _native.LogInfo(args[0])


def set_remote(resolver: Callable[[], Any] | None) -> None:
    """In a process with no plugin: ``resolver()`` gives the runtime.sdk.remote.RemoteOrthanc
    that serves SDK calls now (None: none does)."""
    global _remote
    _remote = resolver




def _refuse_nul(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raises ValueError if a URI holds a NUL: Orthanc would read it cut short, silently
    asking for another resource than the one named (``/instances/x\0/delete``)."""
    where = catalog.TEXT_ARGUMENTS.get(name)
    if where is None:
        return
    position, parameter = where
    value = args[position] if position < len(args) else kwargs.get(parameter)
    if isinstance(value, str) and "\0" in value:
        raise ValueError(f"{name}: the {parameter} holds a NUL character, which Orthanc would "
                         f"read as its end: {value[:value.index(chr(0))]!r} + NUL + ...")


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    _refuse_nul(name, args, kwargs)
    binding = _native
    if binding is not None:
        return getattr(binding, name)(*args, **kwargs)
    remote = _remote() if _remote is not None else None
    if remote is not None:
        if name in catalog.VALUE_CALLS:
            local, answer = objects.answer_locally(name, args)
            if local:
                return answer
        return remote.call(name, *args, **kwargs)
    if _master_call is not None:
        if name not in proxied():
            raise NotInOrthanc(
                f"{name} cannot be called from a worker process: only the master, inside "
                "Orthanc, can; move this call out of the offloaded handler"
            )
        if _in_task():
            if name in _LOG_CALLS:
                return _log_later(name, args)
            if _waiting_logs:
                flush_logs()
            if telemetry.active():
                with telemetry.sdk_call(name):
                    return _master_call_of(name, args, kwargs)
            return _master_call_of(name, args, kwargs)
        return _outside_task(name, *args)
    raise NotInOrthanc(
        f"{name}: not running inside Orthanc; this SDK call works in a script loaded by the "
        "orthanc-runtime plugin, or in a handler offloaded to its pool"
    )


def _master_call_of(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if name in catalog.VALUE_CALLS:
        return _call_with_values(name, args)
    assert _master_call is not None
    return _master_call(name, *args, **kwargs)


def master_functions() -> dict[str, Callable[..., Any]]:
    """The functions the pool serves to its workers."""
    if _native is None:
        raise NotInOrthanc("the pool's master functions exist only inside Orthanc")
    values = catalog.VALUE_CALLS
    functions = {name: objects.serve(_native, name) if name in values else getattr(_native, name)
                 for name in proxied()}
    functions = {name: function if name in _LOG_CALLS else _reported(name, function)
                 for name, function in functions.items()}
    functions["log_lines"] = _log_lines
    return functions


def _reported(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` served to a worker: when it fails, the master's log says so (INFO: a
    handler may expect the failure) with the request's handler and id, then the worker gets
    the error as before."""

    def serve(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            try:
                _native.LogInfo(f"{context.prefix()}orthanc-runtime: {name} called by a worker "
                                f"failed: {type(error).__name__}: {error}")
            except Exception:
                pass
            raise

    return serve


def _call_with_values(name: str, args: tuple[Any, ...]) -> Any:
    """A call on SDK objects from a worker, which holds them by value (runtime.sdk.objects)."""
    local, answer = objects.answer_locally(name, args)
    if local:
        return answer
    assert _master_call is not None
    result = _master_call(name, *args)
    if name in objects.MUTATING:
        result, changed = result
        objects.update_from(args[0], changed)
    return result


def _outside_task(name: str, *args: Any) -> Any:
    """An SDK call in a worker while no task runs: at import of the script, for instance."""
    if name in _LOG_LEVELS:
        print(f"{_LOG_LEVELS[name]} orthanc-runtime worker {os.getpid()}: {args[0]}",
              file=sys.stderr, flush=True)
        return None
    if name in _LOCAL_IN_WORKER:
        global _worker_context
        if _worker_context is None:
            path = os.environ.get(WORKER_CONTEXT_VARIABLE)
            if not path:
                raise NotInOrthanc(f"{name}: this worker was not started by the plugin")
            with open(path, encoding="utf-8") as file:
                _worker_context = json.load(file)
        return _worker_context[_LOCAL_IN_WORKER[name]]
    raise NotInOrthanc(
        f"{name} was called in a worker while it imports the script, when the master cannot "
        "answer; make this call inside a handler (at import, only logs and the configuration "
        "are available in a worker)"
    )


def write_worker_context(path: str) -> None:
    """Writes what workers may read while they import the script (mode 0600); sets the variable."""
    context = {
        "configuration": call("GetConfiguration"),
        "configuration_path": call("GetConfigurationPath"),
        "orthanc_version": call("orthanc_version"),
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(context, file)
    os.environ[WORKER_CONTEXT_VARIABLE] = path
