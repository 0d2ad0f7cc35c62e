"""The decorators of the scripting API: sugar over the registry's plain calls.

Each decorator records the function and returns it unchanged, so that a
handler pickles by reference ("module.qualname") and a worker finds the very
function the master registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from runtime.enums import ChangeType, ResourceType
from runtime.registry import Offload, active

F = TypeVar("F", bound=Callable[..., Any])


def route(pattern: str, methods: Iterable[str] = ("GET",)) -> Callable[[F], F]:
    """Answer requests to ``pattern`` with the decorated function.

    Example::

        @route('/hello/{name}', methods=['GET'])
        def hello(request):
            return {'hello': request.params['name']}

    ``pattern`` is a template (``/items/{id}``, ``/items/{n:int}``, converters
    ``str``, ``int``, ``path``, ``id``) or a raw regular expression whose groups
    land in ``request.groups``. The handler returns a ``Response``, or bytes,
    str, dict or list. A method the route does not accept answers 405.
    """
    method_list = list(methods)

    def decorate(handler: F) -> F:
        active().add_route(pattern, handler, method_list)
        return handler

    return decorate


def _as_set(value: int | Iterable[int] | None) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return [value]
    return list(value)


@overload
def on_change(handler: F, /) -> F: ...
@overload
def on_change(
    *types: ChangeType | int, level: ResourceType | Iterable[ResourceType] | None = None
) -> Callable[[F], F]: ...


def on_change(*types: Any, level: Any = None) -> Any:
    """Call the decorated function with each change of Orthanc's database.

    Example::

        @on_change(ChangeType.STABLE_STUDY)
        def stable(change):
            sdk.log.info(f'study {change.resource_id} is stable')

    With no argument it receives every change; ``level`` filters by resource
    level. Handlers run on one queue thread, in the order the events arrived.
    """
    if len(types) == 1 and callable(types[0]) and not isinstance(types[0], int):
        active().add_change_listener(types[0], None, _as_set(level))
        return types[0]

    def decorate(handler: F) -> F:
        active().add_change_listener(handler, list(types) or None, _as_set(level))
        return handler

    return decorate


def on_stored_instance(handler: F) -> F:
    """Call the decorated function with a snapshot of each instance Orthanc stores.

    Example::

        @on_stored_instance
        def stored(instance):
            sdk.log.info(f'{instance.id}: {instance.json.get("Modality")}')
    """
    active().add_stored_listener(handler)
    return handler


def http_filter(handler: F) -> F:
    """Ask the decorated function whether each incoming HTTP request may proceed.

    It receives a ``FilterRequest`` (``method``, ``uri``, ``ip``, ``headers``,
    ``query``) and returns True to let it through; False makes Orthanc answer
    403. Several filters must all accept. A filter that raises refuses::

        @http_filter
        def only_tokens(request):
            return request.headers.get('Authorization') == 'Bearer secret'
    """
    active().add_http_filter(handler)
    return handler


def on_find(handler: F) -> F:
    """Answer the C-FIND queries Orthanc receives (in place of its own database).

    The handler gets a ``FindRequest`` (``query``: keyword -> value asked,
    ``dataset()``, ``level``, ``issuer_aet``, ``called_aet``) and returns a list
    (or any iterable) of pydicom ``Dataset``s or DICOM bytes, one per match::

        @on_find
        def patients(request):
            return [Dataset(PatientID=p, PatientName=n, QueryRetrieveLevel='PATIENT')
                    for p, n in lookup(request.query.get('PatientID', ''))]
    """
    active().set_dicom_service("find", handler)
    return handler


def on_worklist(handler: F) -> F:
    """Answer the modality worklist queries (C-FIND against worklists).

    The handler gets a ``WorklistRequest`` (``dataset()``, ``data``,
    ``issuer_aet``, ``called_aet``) and returns the worklist items that may
    match, as pydicom ``Dataset``s or DICOM bytes: the runtime keeps those
    that match the query by Orthanc's rules.
    """
    active().set_dicom_service("worklist", handler)
    return handler


def on_move(handler: F) -> F:
    """Answer the C-MOVE requests Orthanc receives.

    The handler gets a ``MoveRequest`` (``level``, ``study_instance_uid``...,
    ``target_aet``) and returns the Orthanc ids to send (patients, studies,
    series or instances). The runtime sends each instance by C-STORE to the
    modality of ``DicomModalities`` whose AET is the target: one sub-operation
    each, so the client sees the right counts.
    """
    active().set_dicom_service("move", handler)
    return handler


def on_storage_commitment(handler: F) -> F:
    """Answer storage commitment requests (N-ACTION) for instances Orthanc should keep.

    The handler gets a ``CommitmentRequest`` (``instances``: (SOPClassUID,
    SOPInstanceUID) pairs, ``transaction_uid``, ``remote_aet``) and returns
    ``{SOPInstanceUID: StorageCommitmentFailureReason}`` (True for SUCCESS)
    or a reason per instance, in order.
    """
    active().set_dicom_service("storage_commitment", handler)
    return handler


def cstore_filter(handler: F) -> F:
    """Ask the decorated function whether each instance received by C-STORE may be stored.

    It receives an ``IncomingInstance`` (``data``, ``remote_aet``,
    ``transfer_syntax``, ``dataset()``) and returns True to accept it, False
    to refuse it (the modality gets 0x0124, "not authorized"), or a DIMSE
    status to refuse it with. Several filters must all accept. Orthanc calls
    it while it holds its storage: do not call its REST API from here.
    """
    active().add_cstore_filter(handler)
    return handler


def on_received_instance(handler: F) -> F:
    """Keep, modify or discard each instance Orthanc receives, before it stores it.

    The handler gets a ``ReceivedInstance`` (``data``, ``origin``, ``dataset()``)
    and returns None to keep it, bytes or a pydicom ``Dataset`` to store that
    instead, or ``DISCARD``. Orthanc allows one such handler::

        @on_received_instance
        def anonymise_name(received):
            dataset = received.dataset()
            dataset.PatientName = 'ANONYMOUS'
            return dataset
    """
    active().set_received_instance(handler)
    return handler


@overload
def offload(handler: F, /) -> F: ...
@overload
def offload(*, timeout: float | None = None) -> Callable[[F], F]: ...


def offload(handler: Any = None, *, timeout: float | None = None) -> Any:
    """Run the decorated handler in the worker pool instead of the master.

    Stack it under ``@route``, ``@on_change`` or ``@on_stored_instance``::

        @route('/computation')
        @offload(timeout=60)
        def computation(request): ...

    The handler must be defined at the top level of the script (workers find
    it by name), and its argument and result must pickle.
    """
    if timeout is not None and timeout <= 0:
        raise ValueError(f"offload timeout must be > 0 seconds, not {timeout}")

    def decorate(function: F) -> F:
        if not callable(function):
            raise TypeError(f"@offload needs a function, not {type(function).__name__}")
        function.__orthanc_offload__ = Offload(timeout)  # type: ignore[attr-defined]
        return function

    if handler is not None:
        return decorate(handler)
    return decorate
