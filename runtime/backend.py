"""Where an SDK call goes: the native binding in the master, the master from a worker.

Inside Orthanc, runtime._plugin hands this module the embedded binding
``_orthanc_native``. In a worker of the pool there is no binding: the calls
listed in PROXIED travel back to the master (pool.call_master), which serves
them with the binding; nothing else can be called from a worker. Outside both,
every call raises NotInOrthanc.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pool import call_master, in_worker

from .errors import NotInOrthanc

# The SDK functions a worker may call through the master. Registration,
# answers to a request and metrics belong to the master alone.
PROXIED = frozenset(
    {
        "rest_api_get",
        "rest_api_post",
        "rest_api_put",
        "rest_api_delete",
        "call_rest_api",
        "get_dicom_for_instance",
        "log_info",
        "log_warning",
        "log_error",
        "get_configuration",
        "get_configuration_path",
        "generate_rest_api_authorization_token",
        "get_error_description",
        "orthanc_version",
    }
)

_native: Any = None


def set_native(module: Any) -> None:
    global _native
    _native = module


def native() -> Any:
    """The embedded binding, or None outside the master."""
    return _native


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    binding = _native
    if binding is not None:
        return getattr(binding, name)(*args, **kwargs)
    if in_worker():
        if name not in PROXIED:
            raise NotInOrthanc(
                f"{name} cannot be called from a worker process: only the master, inside "
                "Orthanc, can; move this call out of the offloaded handler"
            )
        return call_master(name, *args, **kwargs)
    raise NotInOrthanc(
        f"{name}: not running inside Orthanc; this SDK call works in a script loaded by the "
        "orthanc-runtime plugin, or in a handler offloaded to its pool"
    )


def master_functions() -> dict[str, Callable[..., Any]]:
    """The functions the pool serves to its workers."""
    if _native is None:
        raise NotInOrthanc("the pool's master functions exist only inside Orthanc")
    return {name: getattr(_native, name) for name in PROXIED}
