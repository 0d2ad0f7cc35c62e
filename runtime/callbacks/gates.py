"""Gates: handlers whose answer decides whether Orthanc goes on with a request.

    Orthanc HTTP thread, before anything else --http_filter(method, uri, ip, headers, get)-->
        each filter in turn (inline, or @offload: in a worker, this thread waiting)
        all accept -> Orthanc serves the request;  one refuses -> Orthanc answers 403
    Orthanc's thread receiving an instance (REST, C-STORE...), before it stores it
        --received_instance(dicom, origin)--> the one handler (inline or @offload)
        None: keep it;  bytes or a pydicom Dataset: store that;  DISCARD: drop it

Gates fail closed: a gate that raises, times out, whose worker crashes, or that
answers something it should not, refuses (403; the instance discarded), and
the log names it and the cause. The first refusal among filters wins.
"""

from __future__ import annotations

import inspect
import io
import time
from typing import Any
from urllib.parse import unquote_plus

from pool import PoolClosed, TaskTimeout, WorkerCrashed
from runtime import answers
from runtime.backends import executor
from runtime.enums import HttpMethod, InstanceOrigin
from runtime.http import Headers
from runtime.registry import HttpFilter, ReceivedInstanceHandler, offload_of, registry, verdicts
from runtime.requests import DISCARD, FilterRequest, ReceivedInstance


def _compat_call(gate: HttpFilter, request: FilterRequest) -> Any:
    # The official plugin's signature; its method is a plain int.
    return gate.handler(request.uri, method=int(HttpMethod[request.method]), ip=request.ip,
                        headers=dict(request.headers.items()), get=request.query)


def _ask(gate: HttpFilter, request: FilterRequest) -> bool:
    """The filter's verdict, checked by verdicts.http_verdict (in the worker when offloaded)."""
    if gate.style == "compat":
        return verdicts.http_verdict(_compat_call(gate, request))
    return verdicts.handled(gate, verdicts.http_verdict, request)  # type: ignore[no-any-return]


def http_filter(method: str, uri: str, ip: str, headers: dict[str, str],
                get: dict[str, str]) -> bool:
    """Called by the native trampoline for every HTTP request; True lets it through.

    Fails closed: a filter that raises, times out, loses its worker or answers anything
    but True or False refuses the request (ERROR, naming it); a filter that answers False
    refuses it too, which is the filter working (INFO).
    """
    request = FilterRequest(method, uri, ip, Headers.from_orthanc(headers),
                            {unquote_plus(k): unquote_plus(v) for k, v in get.items()})
    for gate in registry.http_filters:
        try:
            allowed = _ask(gate, request)
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


def _compat_received(gate: ReceivedInstanceHandler, data: bytes, origin: int) -> Any:
    # The official plugin's callback: (receivedDicom) -> (action, bytes or None); newer
    # ones take the origin too.
    try:
        takes_origin = len(inspect.signature(gate.handler).parameters) >= 2
    except (TypeError, ValueError):
        takes_origin = False
    answer = gate.handler(data, InstanceOrigin(origin)) if takes_origin else gate.handler(data)
    action, modified = answer
    action = int(action)
    if action == MODIFY:
        return MODIFY, bytes(modified)
    return (action if action in (KEEP_AS_IS, DISCARD_ACTION) else DISCARD_ACTION), None


def received_instance(data: bytes, origin: int) -> tuple[int, bytes | None]:
    """Called by the native trampoline for each received instance: (action, modified DICOM)."""
    gate = registry.received_instance
    if gate is None:
        return KEEP_AS_IS, None
    try:
        if gate.style == "compat":
            return _compat_received(gate, data, origin)  # type: ignore[no-any-return]
        received = ReceivedInstance(data, InstanceOrigin(origin))
        offload = gate.offload
        if offload is None:
            answer = gate.handler(received)
        else:
            answer = executor.run_call(gate.handler, received, offload.timeout)
        return _as_answer(gate, answer)
    except BaseException as error:  # fail closed: not stored if its gate could not say yes
        answers.log_exception(f"{gate.name} (received instance): the instance is discarded",
                              error, answers.new_error_id())
        return DISCARD_ACTION, None


# -- the storage area -----------------------------------------------------------------



def _storage() -> Any:
    area = registry.storage_area
    if area is None:
        raise RuntimeError("no storage area is registered")
    return area


def _area_call(method: str, *args: Any) -> Any:
    """Calls a method of the storage area: in a worker if it is ``@offload``ed and the pool
    runs; in the master otherwise (while Orthanc starts or stops, without a pool)."""
    function = getattr(_storage(), method)
    offload = offload_of(function)
    if offload is not None and executor.current() is not None:
        try:
            return executor.run_call(run_in_worker, (method, args), offload.timeout)
        except PoolClosed:  # Orthanc is stopping: its last operations run here
            pass
    return function(*args)


def run_in_worker(call: tuple[str, tuple[Any, ...]]) -> Any:
    """In a worker: the same method of the worker's own storage area (the script, imported
    there too, registered one)."""
    method, args = call
    return getattr(_storage(), method)(*args)


# The official plugin's callbacks take the same arguments, in the same order.
def storage_create(uuid: str, content_type: int, data: bytes) -> None:
    try:
        _area_call("create", uuid, content_type, data)
    except BaseException as error:
        # Orthanc forgets a file whose create failed: whatever the method wrote before it
        # raised, timed out or lost its worker would stay, named by no one, for good.
        _remove_leftover(uuid, content_type, error)
        raise


def _remove_leftover(uuid: str, content_type: int, error: BaseException) -> None:
    pid = getattr(error, "pid", None)
    if isinstance(error, (TaskTimeout, WorkerCrashed)) and isinstance(pid, int):
        _wait_gone(pid)  # a worker still writing would make the file again after its removal
    try:
        _area_call("remove", uuid, content_type)
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


def storage_read(uuid: str, content_type: int) -> bytes:
    return bytes(_area_call("read", uuid, content_type))


def storage_remove(uuid: str, content_type: int) -> None:
    _area_call("remove", uuid, content_type)


# -- the storage area with custom data (RegisterStorageArea3, Orthanc 1.12.8 and newer) -----
# Each answers what the C++ trampoline hands Orthanc: an error code, and the custom data or
# the bytes read. The callbacks answer (ErrorCode, value) as the official plugin 7.1's do; a
# bare value (or None) is taken as success.

def _code_and_value(answer: Any) -> tuple[int, Any]:
    if isinstance(answer, tuple) and len(answer) == 2:
        return int(answer[0]), answer[1]
    return 0, answer


def storage_create3(uuid: str, content_type: int, compression_type: int, data: bytes,
                    dicom: Any) -> tuple[int, bytes | None]:
    from runtime.compat import DicomInstance  # the official plugin's object, valid during this call

    instance = DicomInstance(dicom) if dicom is not None else None
    code, custom = _code_and_value(
        _area_call("create", uuid, content_type, compression_type, data, instance))
    if code != 0:
        return code, None
    return 0, None if custom is None else _as_bytes(custom, "custom data")


def storage_read3(uuid: str, content_type: int, range_start: int, size: int,
                  custom: bytes) -> tuple[int, bytes | None]:
    code, data = _code_and_value(_area_call("read", uuid, content_type, range_start, size, custom))
    if code != 0:
        return code, None
    data = _as_bytes(data, "the bytes read")
    if len(data) != size:
        raise ValueError(f"the storage area's read of {uuid} answered {len(data)} bytes, "
                         f"Orthanc asked for {size} from {range_start}")
    return 0, data


def storage_remove3(uuid: str, content_type: int, custom: bytes) -> int:
    code, _ = _code_and_value(_area_call("remove", uuid, content_type, custom))
    return code


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"the storage area answered {what} as {type(value).__name__}, not bytes")


def install(native: Any) -> None:
    """Registers the gates the script has with Orthanc (only while Orthanc starts)."""
    if registry.http_filters:
        native.set_http_filter(http_filter)
        native.register_http_filter()
    if registry.received_instance is not None:
        native.set_received_instance(received_instance)
        native.register_received_instance()
    area = registry.storage_area
    if area is not None and area.custom_data:
        native.set_storage_area(storage_create3, storage_read3, storage_remove3)
        native.register_storage_area3()
    elif area is not None:
        native.set_storage_area(storage_create, storage_read, storage_remove)
        native.register_storage_area()
