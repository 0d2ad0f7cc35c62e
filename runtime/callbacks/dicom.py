"""The DICOM services a script answers: C-FIND, worklists, C-MOVE, storage commitment, C-STORE filters.

    Orthanc's DICOM thread --find(answers, query, issuer, called)--> the @on_find handler
        (inline, or @offload: in a worker, this thread waiting) -> pydicom Datasets or DICOM
        bytes -> FindAddAnswer, on this thread
    --worklist(...)--> the @on_worklist handler -> Datasets or bytes -> those that match the
        query (Orthanc's matching) -> WorklistAddAnswer
    --move_create(level, uids, AETs)--> the @on_move handler -> Orthanc ids -> their instances;
        move_size: how many; move_apply: C-STORE of the next one to the target modality
    --commitment_create(job, transaction, uids)--> the @on_storage_commitment handler -> a
        reason for each instance; commitment_lookup answers them one by one
    --cstore_filter(instance)--> each @cstore_filter: True accepts; False, or a DIMSE failure
        status, refuses (the first refusal wins); runtime.registry.verdicts checks every answer

Who asked travels with each request as a :class:`DicomConnection` (calling AET,
called AET, remote IP): ``request.connection`` in the decorator API, the last
argument of the official 7.x callbacks (``RegisterFindCallback2``...). Orthanc
1.12.10 and newer hand the plugin a connection object (the plugin registers
their "2" callbacks where the header it was built against has them); older
ones pass the AETs only, and ``remote_ip`` is then None.

A handler that raises, times out, whose worker crashes or that answers the wrong
type (runtime.registry.verdicts: checked where the handler runs) makes Orthanc answer the
DICOM client a failure status (the association
goes on), and the log names the handler and the cause. Each service calls its
handler's invoker (runtime.registry.invoke), bound at registration: a decorated
handler inline or in a worker through the glue below, or the official plugin's
callback (``orthanc.RegisterFindCallback``...) through its adapter
(runtime.compat.adapters), with Orthanc's objects, in the master.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime import answers, context, sdk
from runtime.enums import ErrorCode, ResourceType, StorageCommitmentFailureReason
from runtime.errors import OrthancError
from runtime.registry import DicomService, Handler, Registry, verdicts
from runtime.registry import invoke as invoking
from runtime.requests import (
    CommitmentRequest,
    DicomConnection,
    FindRequest,
    IncomingInstance,
    MoveRequest,
    WorklistRequest,
)
from runtime.sdk.calls import DicomInstance, FindAnswers, FindQuery, WorklistAnswers, WorklistQuery

# -- answers as DICOM -----------------------------------------------------------------

EXPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
# What a file of a C-FIND or worklist answer claims to be, when the dataset does not say.
FIND_MODEL = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve - FIND
WORKLIST_MODEL = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND


def dicom_bytes(answer: Any, sop_class: str, who: str) -> bytes:
    """A handler's answer as a DICOM file: DICOM bytes as they are, a pydicom Dataset written.

    Any other type, and bytes that are not a DICOM file, raise WrongAnswer naming ``who``.
    """
    if isinstance(answer, (bytes, bytearray, memoryview)):
        return _checked_dicom(bytes(answer), who)
    if type(answer).__name__ not in ("Dataset", "FileDataset") or not hasattr(answer, "save_as"):
        raise verdicts.WrongAnswer(f"{who} answered {type(answer).__name__}, not a pydicom "
                                   "Dataset or DICOM bytes")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    meta = FileMetaDataset()
    for keyword, value in (getattr(answer, "file_meta", None) or {}).items():
        meta[keyword] = value
    meta.TransferSyntaxUID = UID(EXPLICIT_LITTLE_ENDIAN)
    meta.MediaStorageSOPClassUID = UID(answer.get("SOPClassUID", sop_class))
    meta.MediaStorageSOPInstanceUID = UID(answer.get("SOPInstanceUID") or generate_uid())
    copy = Dataset(answer)  # the handler's dataset stays as it was
    copy.file_meta = meta
    buffer = io.BytesIO()
    copy.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _checked_dicom(data: bytes, who: str) -> bytes:
    """``data`` if it is a DICOM file (Part 10: preamble, ``DICM``, meta header, dataset).

    Orthanc cannot match or answer anything else; unchecked, such an answer was
    dropped and the client told Success with no match."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, OSError, TypeError) as error:
        raise verdicts.WrongAnswer(f"{who} answered {len(data)} bytes that are not a DICOM "
                                   f"file ({type(error).__name__}: {error})"[:400]) from None
    return data


def _listed(who: str, result: Any) -> list[Any]:
    if result is None:
        return []
    if isinstance(result, (bytes, bytearray, memoryview, str, Mapping)) or \
            type(result).__name__ in ("Dataset", "FileDataset") or \
            not isinstance(result, Iterable):
        raise verdicts.WrongAnswer(f"{who} answered {type(result).__name__}: a handler "
                                   "answers a list (or any iterable) of answers, or None for "
                                   "none")
    return list(result)


def _dicom_answers(result: Any, request: Any, sop_class: str, who: str) -> list[bytes]:
    """A C-FIND or worklist handler's answers, written as DICOM files."""
    return [dicom_bytes(a, sop_class, who) for a in _listed(who, result)]


# -- who asked ------------------------------------------------------------------------



def _failed(entry: Handler, what: str, error: BaseException) -> int:
    answers.log_exception(f"{entry.name} ({what})", error, answers.new_error_id())
    return int(ErrorCode.PLUGIN)


# -- C-FIND ---------------------------------------------------------------------------



def _keyword(group: int, element: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag((group << 16) | element) or f"{group:04x},{element:04x}"


def _serve_query(handlers: Registry, kind: str, what: str, answers_handle: Any, query_handle: Any,
                 connection: DicomConnection) -> int:
    """A C-FIND or worklist query, through the handler's invoker. Answers an ErrorCode."""
    service = handlers.dicom_services.get(kind)
    if service is None:
        return int(ErrorCode.PLUGIN)
    with context.entered(service.name):
        try:
            service.invoke(answers_handle, query_handle, connection)  # type: ignore[misc]
            return int(ErrorCode.SUCCESS)
        except BaseException as error:
            return _failed(service, f"{what} from {connection.remote_aet}", error)


def _find_glue(entry: Handler, run: invoking.Run) -> Any:
    """A decorated C-FIND handler's invoker: the query as a FindRequest, its answers (checked
    and written as DICOM where it runs) added to Orthanc's."""

    def invoke(answers_handle: Any, query_handle: Any, connection: DicomConnection) -> None:
        found, query = FindAnswers(answers_handle), FindQuery(query_handle)
        tags = tuple((query.GetFindQueryTagGroup(i), query.GetFindQueryTagElement(i),
                      query.GetFindQueryValue(i)) for i in range(query.GetFindQuerySize()))
        request = FindRequest({_keyword(g, e): v for g, e, v in tags}, tags,
                              connection.remote_aet, connection.called_aet, connection.remote_ip)
        for dicom in run(_dicom_answers, request, FIND_MODEL, f"{entry.name} (C-FIND)"):
            found.FindAddAnswer(dicom)

    return invoke


def find(handlers: Registry, answers_handle: Any, query_handle: Any, issuer_aet: str, called_aet: str,
         remote_ip: str | None = None) -> int:
    """Called by the native trampoline for each C-FIND; answers an ErrorCode."""
    return _serve_query(handlers, "find", "C-FIND", answers_handle, query_handle,
                        DicomConnection(issuer_aet, called_aet, remote_ip))


# -- worklists ------------------------------------------------------------------------


def _worklist_glue(entry: Handler, run: invoking.Run) -> Any:
    """A decorated worklist handler's invoker: its items that match the query (Orthanc's
    matching) added to Orthanc's answers."""

    def invoke(answers_handle: Any, query_handle: Any, connection: DicomConnection) -> None:
        found, query = WorklistAnswers(answers_handle), WorklistQuery(query_handle)
        request = WorklistRequest(query.WorklistGetDicomQuery(), connection.remote_aet,
                                  connection.called_aet, connection.remote_ip)
        for dicom in run(_dicom_answers, request, WORKLIST_MODEL, f"{entry.name} (worklist)"):
            match = query.WorklistIsMatch(dicom)
            if match < 0:  # Orthanc could not read it (checked before; never silently dropped)
                raise verdicts.WrongAnswer(f"{entry.name} (worklist) answered an item Orthanc "
                                           "cannot match against the query")
            if match:
                found.WorklistAddAnswer(query, dicom)

    return invoke


def worklist(handlers: Registry, answers_handle: Any, query_handle: Any, issuer_aet: str, called_aet: str,
             remote_ip: str | None = None) -> int:
    """Called by the native trampoline for each worklist C-FIND; answers an ErrorCode."""
    return _serve_query(handlers, "worklist", "worklist C-FIND", answers_handle, query_handle,
                        DicomConnection(issuer_aet, called_aet, remote_ip))


# -- C-MOVE ---------------------------------------------------------------------------

_LEVELS = {int(ResourceType.PATIENT): "PATIENT", int(ResourceType.STUDY): "STUDY",
           int(ResourceType.SERIES): "SERIES", int(ResourceType.INSTANCE): "INSTANCE"}


class _Instances:
    """What an ``@on_move`` handler's C-MOVE does: C-STORE of each instance to the target."""

    def __init__(self, modality: str, instances: list[str]) -> None:
        self.modality = modality
        self.instances = instances
        self.sent = 0

    def size(self) -> int:
        return len(self.instances)

    def apply(self) -> None:
        instance = self.instances[self.sent]
        self.sent += 1
        sdk.rest_post(f"/modalities/{self.modality}/store",
                      {"Resources": [instance], "Synchronous": True})

    def free(self) -> None:
        pass


@dataclass
class _Move:
    """One C-MOVE: the service, and the driver its invoker made (size, apply, free)."""

    service: DicomService
    driver: Any


def _modality_of(aet: str) -> str:
    """The name in DicomModalities of the modality whose AET is ``aet``."""
    known = sdk.rest_get("/modalities?expand")
    for name, description in known.items():
        if description.get("AET") == aet:
            return str(name)
    raise LookupError(f"no modality of DicomModalities has the AET {aet!r}: Orthanc cannot "
                      "send it the instances")


def _instances_of(resource: str) -> list[str]:
    if not isinstance(resource, str):
        raise TypeError(f"answered {type(resource).__name__} among the ids to move, not an "
                        "Orthanc id (str)")
    for level in ("instances", "series", "studies", "patients"):
        try:
            sdk.rest_get(f"/{level}/{resource}")
        except OrthancError as error:
            if error.status == 404:
                continue
            raise
        if level == "instances":
            return [resource]
        return [i["ID"] for i in sdk.rest_get(f"/{level}/{resource}/instances")]
    raise LookupError(f"answered {resource!r} among the ids to move: Orthanc has no such "
                      "patient, study, series or instance")


def _move_glue(entry: Handler, run: invoking.Run) -> Any:
    """A decorated C-MOVE handler's invoker: ``(request)`` -> the instances of the ids it
    answers, to send to the target modality."""

    def invoke(request: MoveRequest) -> _Instances:
        modality = _modality_of(request.target_aet)
        ids = run(_ids, request, f"{entry.name} (C-MOVE)")
        instances = [i for resource in ids for i in _instances_of(resource)]
        return _Instances(modality, list(dict.fromkeys(instances)))

    return invoke


def move_create(handlers: Registry, level: int, patient_id: str, accession_number: str, study_uid: str,
                series_uid: str, sop_uid: str, originator_aet: str, source_aet: str,
                target_aet: str, originator_id: int, remote_ip: str | None = None) -> Any:
    """A driver for one C-MOVE, or None to refuse it (the client gets a failure)."""
    service = handlers.dicom_services.get("move")
    if service is None:
        return None
    request = MoveRequest(_LEVELS.get(level, ""), patient_id, accession_number, study_uid,
                          series_uid, sop_uid, originator_aet, source_aet, target_aet,
                          originator_id, remote_ip)
    with context.entered(service.name):
        try:
            return _Move(service, service.invoke(request))  # type: ignore[misc]
        except BaseException as error:
            _failed(service, f"C-MOVE from {originator_aet} to {target_aet}", error)
            return None


def _ids(result: Any, request: MoveRequest, who: str) -> list[Any]:
    # None is no answer here: a C-MOVE that moves nothing answers an empty list.
    if result is None:
        raise verdicts.WrongAnswer(f"{who} answered None, not a list of Orthanc ids (an empty "
                                   "list moves nothing)")
    ids = _listed(who, result)
    for resource in ids:
        if not isinstance(resource, str):
            raise verdicts.WrongAnswer(f"{who} answered {type(resource).__name__} among the "
                                       "ids to move, not an Orthanc id (str)")
    return ids


def move_size(move: _Move) -> int:
    """The number of sub-operations of a C-MOVE."""
    try:
        size = move.driver.size()
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TypeError(f"answered {size!r} as the number of sub-operations, not an int >= 0")
        return size  # type: ignore[no-any-return]
    except BaseException as error:
        _failed(move.service, "C-MOVE, its number of sub-operations", error)
        return 0


def move_apply(move: _Move) -> int:
    """Applies the next sub-operation; answers an ErrorCode."""
    try:
        code = move.driver.apply()
        return int(ErrorCode.SUCCESS) if code is None else int(code)
    except BaseException as error:
        return _failed(move.service, "a C-MOVE sub-operation", error)


def move_free(move: _Move) -> None:
    try:
        move.driver.free()
    except BaseException as error:
        _failed(move.service, "ending a C-MOVE", error)


# -- storage commitment ---------------------------------------------------------------



def _reasons(answer: Any, request: CommitmentRequest) -> dict[str, int]:
    uids = [uid for _, uid in request.instances]
    if isinstance(answer, Mapping):
        pairs = list(answer.items())
    else:
        values = _listed("the storage-commitment handler", answer)
        if len(values) != len(uids):
            raise ValueError(f"answered {len(values)} reasons for {len(uids)} instances")
        pairs = list(zip(uids, values, strict=True))
    reasons: dict[str, int] = {}
    for uid, reason in pairs:
        if reason is True:
            reason = StorageCommitmentFailureReason.SUCCESS
        if isinstance(reason, bool) or not isinstance(reason, int) or \
                reason not in StorageCommitmentFailureReason._value2member_map_:
            raise TypeError(f"answered {reason!r} for {uid}, not a "
                            "StorageCommitmentFailureReason")
        reasons[str(uid)] = int(reason)
    return reasons


@dataclass
class _Commitment:
    """One storage commitment request: the service, and how to look each instance up."""

    service: DicomService
    lookup: Callable[[str, str], int]


def _commitment_glue(entry: Handler, run: invoking.Run) -> Any:
    """A decorated storage-commitment handler's invoker: every reason at once, looked up
    one by one; a handler that fails makes each instance a processing failure."""

    def invoke(job_id: str, transaction_uid: str, class_uids: list[str],
               instance_uids: list[str], connection: DicomConnection) -> Callable[[str, str], int]:
        request = CommitmentRequest(job_id, transaction_uid,
                                    tuple(zip(class_uids, instance_uids, strict=True)),
                                    connection.remote_aet, connection.called_aet,
                                    connection.remote_ip)
        try:
            with context.entered(entry.name):
                reasons = run(_reasons, request)
        except BaseException as error:
            _failed(entry, f"storage commitment {transaction_uid} from {connection.remote_aet}",
                    error)
            failure = int(StorageCommitmentFailureReason.PROCESSING_FAILURE)
            reasons = {uid: failure for uid in instance_uids}
        missing = int(StorageCommitmentFailureReason.NO_SUCH_OBJECT_INSTANCE)
        return lambda class_uid, instance_uid: reasons.get(instance_uid, missing)

    return invoke


def commitment_create(handlers: Registry, job_id: str, transaction_uid: str, class_uids: list[str],
                      instance_uids: list[str], remote_aet: str, called_aet: str,
                      remote_ip: str | None = None) -> _Commitment:
    service = handlers.dicom_services["storage_commitment"]
    connection = DicomConnection(remote_aet, called_aet, remote_ip)
    try:
        return _Commitment(service, service.invoke(  # type: ignore[misc]
            job_id, transaction_uid, class_uids, instance_uids, connection))
    except BaseException as error:  # Orthanc fails the whole request
        _failed(service, f"storage commitment {transaction_uid} from {remote_aet}", error)
        raise


def commitment_lookup(commitment: _Commitment, class_uid: str, instance_uid: str) -> int:
    try:
        return int(commitment.lookup(class_uid, instance_uid))
    except BaseException as error:
        _failed(commitment.service, f"storage commitment of {instance_uid}", error)
        return int(StorageCommitmentFailureReason.PROCESSING_FAILURE)


# -- C-STORE filters ------------------------------------------------------------------

REFUSED = verdicts.REFUSED
PROCESSING_FAILURE = verdicts.PROCESSING_FAILURE


def _cstore_glue(entry: Handler, run: invoking.Run) -> Any:
    """A decorated C-STORE filter's invoker: ``(dicom, incoming)`` -> the status, checked by
    verdicts.cstore_status where it runs; ``incoming()`` is the IncomingInstance, made
    once for every filter."""
    return lambda dicom, incoming: run(verdicts.cstore_status, incoming())


def cstore_filter(handlers: Registry, instance_handle: Any) -> int:
    """Called by the native trampoline for each instance received by C-STORE: 0 stores it,
    another value is the DIMSE status that refuses it."""
    dicom = DicomInstance(instance_handle)
    made: list[IncomingInstance] = []

    def incoming() -> IncomingInstance:
        if not made:
            made.append(IncomingInstance(dicom.GetInstanceData(),
                                         dicom.GetInstanceRemoteAet() or "",
                                         dicom.GetInstanceTransferSyntaxUid()))
        return made[0]

    for gate in handlers.cstore_filters:
        try:
            status = gate.invoke(dicom, incoming)  # type: ignore[misc]
        except verdicts.WrongAnswer as error:  # fail closed: never a false "stored"
            answers.log_error(f"orthanc-runtime: {gate.name} (C-STORE filter) {error}: the "
                              f"instance from {dicom.GetInstanceRemoteAet()} is refused "
                              f"(DIMSE status 0x{PROCESSING_FAILURE:04X})")
            return PROCESSING_FAILURE
        except BaseException as error:  # fail closed
            answers.log_exception(f"{gate.name} (C-STORE filter): the instance is refused",
                                  error, answers.new_error_id())
            return PROCESSING_FAILURE
        if status != verdicts.STORE:  # a refusal is the filter working: INFO, not ERROR
            answers.log_info(f"orthanc-runtime: {gate.name} refused an instance from "
                             f"{dicom.GetInstanceRemoteAet()} (DIMSE status 0x{status:04X})")
            return status  # type: ignore[no-any-return]
    return verdicts.STORE


_GLUES = {"find": _find_glue, "worklist": _worklist_glue, "move": _move_glue,
          "storage_commitment": _commitment_glue}


def bind(handlers: Registry, binder: invoking.Binder) -> None:
    """Binds each DICOM handler's invoker (runtime.registry.invoke), once, at registration."""
    for kind, service in handlers.dicom_services.items():
        binder.bind(service, "checked", _GLUES[kind])
    for gate in handlers.cstore_filters:
        binder.bind(gate, "checked", _cstore_glue)


def install(native: Any, handlers: Registry) -> None:
    """Registers the DICOM services of ``handlers`` with Orthanc (only while Orthanc starts);
    the callbacks read that registry, which a reload refills."""
    services = handlers.dicom_services
    if "find" in services:
        native.register_find(functools.partial(find, handlers))
    if "worklist" in services:
        native.register_worklist(functools.partial(worklist, handlers))
    if "move" in services:
        native.register_move(functools.partial(move_create, handlers), move_size, move_apply,
                             move_free)
    if "storage_commitment" in services:
        native.register_storage_commitment(functools.partial(commitment_create, handlers),
                                           commitment_lookup)
    if handlers.cstore_filters:
        native.register_cstore_filter(functools.partial(cstore_filter, handlers))

