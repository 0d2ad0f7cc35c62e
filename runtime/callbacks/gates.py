"""Gates: handlers whose answer decides whether Orthanc goes on with a request.

    Orthanc HTTP thread, before anything else --http_filter(method, uri, ip, headers, get)-->
        each filter's invoker in turn (runtime.registry.invoke: inline, or @offload: in a
        worker, this thread waiting, or an official-style callback)
        all accept -> Orthanc serves the request;  one refuses -> Orthanc answers 403
    Orthanc's thread receiving an instance (REST, C-STORE...), before it stores it
        --received_instance(dicom, origin)--> the one handler (inline or @offload)
        None: keep it;  bytes or a pydicom Dataset: store that;  DISCARD: drop it

Gates fail closed: a gate that raises, times out, whose worker crashes, or that
answers something it should not, refuses (403; the instance discarded), and
the log names it and the cause. The first refusal among filters wins.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from pool import TaskTimeout, WorkerCrashed
from runtime import answers, context
from runtime.enums import InstanceOrigin
from runtime.http import Headers
from runtime.registry import Handler, ReceivedInstanceHandler, Registry, verdicts
from runtime.registry import invoke as invoking
from runtime.requests import DISCARD, FilterRequest, ReceivedInstance
from runtime.sdk.calls import DicomInstance


def _filter_glue(entry: Handler, run: invoking.Run) -> Any:
    """An HTTP filter's invoker: ``(request)`` -> its verdict, checked by
    verdicts.http_verdict (in the worker when offloaded)."""
    return lambda request: run(verdicts.http_verdict, request)


def _received_glue(entry: Handler, run: invoking.Run) -> Any:
    """The received-instance handler's invoker: ``(data, origin)`` -> (action, modified DICOM
    or None)."""
    assert isinstance(entry, ReceivedInstanceHandler)
    return lambda data, origin: _as_answer(entry, run(ReceivedInstance(data,
                                                                      InstanceOrigin(origin))))


def bind(handlers: Registry, binder: invoking.Binder) -> None:
    """Binds each gate's invoker (runtime.registry.invoke), once, at registration."""
    for gate in handlers.http_filters:
        binder.bind(gate, "checked", _filter_glue)
    if handlers.received_instance is not None:
        binder.bind(handlers.received_instance, "call", _received_glue)
    if handlers.storage_area is not None:
        binder.bind_storage_area(handlers.storage_area)


def http_filter(handlers: Registry, method: str, uri: str, ip: str, headers: dict[str, str],
                get: dict[str, str]) -> bool:
    """Called by the native trampoline for every HTTP request; True lets it through.

    Fails closed: a filter that raises, times out, loses its worker or answers anything
    but True or False refuses the request (ERROR, naming it); a filter that answers False
    refuses it too, which is the filter working (INFO).
    """
    request = FilterRequest(method, uri, ip, Headers.from_orthanc(headers),
                            {unquote_plus(k): unquote_plus(v) for k, v in get.items()})
    request_id = context.from_headers(headers) if handlers.http_filters else ""
    for gate in handlers.http_filters:
        try:
            with context.entered(gate.name, request_id):
                allowed = gate.invoke(request)  # type: ignore[misc]
        except verdicts.WrongAnswer as error:
            answers.log_error(f"orthanc-runtime: {gate.name} (HTTP filter) {error}: the request "
                              f"{method} {uri} is refused")
            return False
        except BaseException as error:  # fail closed, whatever the filter raised
            answers.log_exception(f"{gate.name} (HTTP filter, {method} {uri}): the request is "
                                  "refused", error, answers.new_error_id())
            return False
        if allowed is not True:
            answers.log_info(f"orthanc-runtime: {gate.name} refused {method} {uri} from {ip}")
            return False
    return True


# -- received instances -----------------------------------------------------------------

KEEP_AS_IS, MODIFY, DISCARD_ACTION = 1, 2, 3  # OrthancPluginReceivedInstanceAction


def _as_answer(gate: ReceivedInstanceHandler, answer: Any) -> tuple[int, bytes | None]:
    if answer is None:
        return KEEP_AS_IS, None
    if answer is DISCARD:
        return DISCARD_ACTION, None
    if isinstance(answer, (bytes, bytearray, memoryview)):
        return MODIFY, bytes(answer)
    if type(answer).__name__ in ("Dataset", "FileDataset") and hasattr(answer, "save_as"):
        buffer = io.BytesIO()
        answer.save_as(buffer)
        return MODIFY, buffer.getvalue()
    answers.log_error(f"orthanc-runtime: {gate.name} (received instance) returned "
                      f"{type(answer).__name__}, not None, bytes, a pydicom Dataset or DISCARD: "
                      "the instance is discarded")
    return DISCARD_ACTION, None


def received_instance(handlers: Registry, data: bytes,
                      origin: int) -> tuple[int, bytes | None]:
    """Called by the native trampoline for each received instance: (action, modified DICOM)."""
    gate = handlers.received_instance
    if gate is None:
        return KEEP_AS_IS, None
    with context.entered(gate.name):
        try:
            return gate.invoke(data, origin)  # type: ignore[misc, no-any-return]
        except BaseException as error:  # fail closed: not stored if its gate could not say yes
            answers.log_exception(f"{gate.name} (received instance): the instance is discarded",
                                  error, answers.new_error_id())
            return DISCARD_ACTION, None


# -- the storage area -----------------------------------------------------------------



def _storage(handlers: Registry) -> Any:
    area = handlers.storage_area
    if area is None:
        raise RuntimeError("no storage area is registered")
    return area


def _area_call(handlers: Registry, method: str, *args: Any) -> Any:
    """Calls a method of the storage area through its invoker (runtime.registry.invoke: in a
    worker if it is ``@offload``ed and the pool runs; in the master otherwise)."""
    area = _storage(handlers)
    invoke = area.invokers.get(method)
    if invoke is None:  # recorded without the plugin (a test): bound at first use
        invoking.inline_binder().bind_storage_area(area)
        invoke = area.invokers[method]
    return invoke(*args)


# The official plugin's callbacks take the same arguments, in the same order.
def storage_create(handlers: Registry, uuid: str, content_type: int, data: bytes) -> None:
    try:
        _area_call(handlers, "create", uuid, content_type, data)
    except BaseException as error:
        # Orthanc forgets a file whose create failed: whatever the method wrote before it
        # raised, timed out or lost its worker would stay, named by no one, for good.
        _remove_leftover(handlers, uuid, content_type, error)
        raise


def _remove_leftover(handlers: Registry, uuid: str, content_type: int, error: BaseException) -> None:
    pid = getattr(error, "pid", None)
    if isinstance(error, (TaskTimeout, WorkerCrashed)) and isinstance(pid, int):
        _wait_gone(pid)  # a worker still writing would make the file again after its removal
    try:
        _area_call(handlers, "remove", uuid, content_type)
    except BaseException as failure:  # most often: there was nothing to remove
        answers.log_info(f"orthanc-runtime: the storage area's create of {uuid} failed "
                         f"({type(error).__name__}); removing what it may have left failed "
                         f"too ({type(failure).__name__}: {answers.safe_str(failure)})")
    else:
        answers.log_info(f"orthanc-runtime: the storage area's create of {uuid} failed "
                         f"({type(error).__name__}); what it may have left is removed")


LEFTOVER_WAIT = 10.0
"""Seconds a failed create waits for its worker to be gone before removing its file."""


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + LEFTOVER_WAIT
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    return  # a zombie writes nothing more
        except OSError:
            return
        time.sleep(0.02)


def storage_read(handlers: Registry, uuid: str, content_type: int) -> bytes:
    return bytes(_area_call(handlers, "read", uuid, content_type))


def storage_remove(handlers: Registry, uuid: str, content_type: int) -> None:
    _area_call(handlers, "remove", uuid, content_type)


# -- the storage area with custom data (RegisterStorageArea3, Orthanc 1.12.8 and newer) -----
# Each answers what the C++ trampoline hands Orthanc: an error code, and the custom data or
# the bytes read. The callbacks answer (ErrorCode, value) as the official plugin 7.1's do; a
# bare value (or None) is taken as success.

def _code_and_value(answer: Any) -> tuple[int, Any]:
    if isinstance(answer, tuple) and len(answer) == 2:
        return int(answer[0]), answer[1]
    return 0, answer


def storage_create3(handlers: Registry, uuid: str, content_type: int, compression_type: int, data: bytes,
                    dicom: Any) -> tuple[int, bytes | None]:
    instance = DicomInstance(dicom) if dicom is not None else None  # valid during this call
    code, custom = _code_and_value(
        _area_call(handlers, "create", uuid, content_type, compression_type, data, instance))
    if code != 0:
        return code, None
    return 0, None if custom is None else _as_bytes(custom, "custom data")


def storage_read3(handlers: Registry, uuid: str, content_type: int, range_start: int, size: int,
                  custom: bytes) -> tuple[int, bytes | None]:
    code, data = _code_and_value(_area_call(handlers, "read", uuid, content_type, range_start, size, custom))
    if code != 0:
        return code, None
    data = _as_bytes(data, "the bytes read")
    if len(data) != size:
        raise ValueError(f"the storage area's read of {uuid} answered {len(data)} bytes, "
                         f"Orthanc asked for {size} from {range_start}")
    return 0, data


def storage_remove3(handlers: Registry, uuid: str, content_type: int, custom: bytes) -> int:
    code, _ = _code_and_value(_area_call(handlers, "remove", uuid, content_type, custom))
    return code


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"the storage area answered {what} as {type(value).__name__}, not bytes")


def install(native: Any, handlers: Registry) -> None:
    """Registers the gates of ``handlers`` with Orthanc (only while Orthanc starts); the
    callbacks read that registry, which a reload refills."""
    def on(callback: Callable[..., Any]) -> Callable[..., Any]:
        return functools.partial(callback, handlers)

    if handlers.http_filters:
        native.set_http_filter(on(http_filter))
        native.register_http_filter()
    if handlers.received_instance is not None:
        native.set_received_instance(on(received_instance))
        native.register_received_instance()
    area = handlers.storage_area
    if area is not None and area.custom_data:
        native.set_storage_area(on(storage_create3), on(storage_read3), on(storage_remove3))
        native.register_storage_area3()
    elif area is not None:
        native.set_storage_area(on(storage_create), on(storage_read), on(storage_remove))
        native.register_storage_area()
