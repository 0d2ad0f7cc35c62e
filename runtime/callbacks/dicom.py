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
goes on), and the log names the handler and the cause. The official plugin's
callbacks (``orthanc.RegisterFindCallback``...) get Orthanc's objects as it
hands them over, and run in the master.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime import answers, sdk
from runtime.enums import ErrorCode, ResourceType, StorageCommitmentFailureReason
from runtime.errors import OrthancError
from runtime.registry import DicomService, Handler, registry, verdicts
from runtime.requests import (
    CommitmentRequest,
    DicomConnection,
    FindRequest,
    IncomingInstance,
    MoveRequest,
    WorklistRequest,
)

# -- answers as DICOM -----------------------------------------------------------------

IMPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2"
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


_handled = verdicts.handled


# -- who asked ------------------------------------------------------------------------



def _failed(entry: Handler, what: str, error: BaseException) -> int:
    answers.log_exception(f"{entry.name} ({what})", error, answers.new_error_id())
    return int(ErrorCode.PLUGIN)


# -- C-FIND ---------------------------------------------------------------------------



def _keyword(group: int, element: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag((group << 16) | element) or f"{group:04x},{element:04x}"


def _serve_query(kind: str, what: str, answers: Any, query: Any, connection: DicomConnection,
                 answer: Callable[[DicomService], None]) -> int:
    """A C-FIND or worklist query: the official plugin's callback gets Orthanc's objects
    (and the AETs, or the connection for the 7.x ones), a handler of the decorator API is
    run by ``answer``. Answers an ErrorCode."""
    service = registry.dicom_services.get(kind)
    issuer_aet = connection.remote_aet
    if service is None:
        return int(ErrorCode.PLUGIN)
    try:
        if service.style == "compat" and service.with_connection:
            service.handler(answers, query, connection)
        elif service.style == "compat":
            service.handler(answers, query, issuer_aet, connection.called_aet)
        else:
            answer(service)
        return int(ErrorCode.SUCCESS)
    except BaseException as error:
        return _failed(service, f"{what} from {issuer_aet}", error)


def _answers(service: DicomService, request: Any, sop_class: str, what: str) -> list[bytes]:
    return _handled(service, _dicom_answers, request, sop_class,  # type: ignore[no-any-return]
                    f"{service.name} ({what})")


def find(answers_handle: Any, query_handle: Any, issuer_aet: str, called_aet: str,
         remote_ip: str | None = None) -> int:
    """Called by the native trampoline for each C-FIND; answers an ErrorCode."""
    from runtime import compat

    found, query = compat.FindAnswers(answers_handle), compat.FindQuery(query_handle)

    def answer(service: DicomService) -> None:
        tags = tuple((query.GetFindQueryTagGroup(i), query.GetFindQueryTagElement(i),
                      query.GetFindQueryValue(i)) for i in range(query.GetFindQuerySize()))
        request = FindRequest({_keyword(g, e): v for g, e, v in tags}, tags, issuer_aet,
                              called_aet, remote_ip)
        for dicom in _answers(service, request, FIND_MODEL, "C-FIND"):
            found.FindAddAnswer(dicom)

    return _serve_query("find", "C-FIND", found, query,
                        DicomConnection(issuer_aet, called_aet, remote_ip), answer)


# -- worklists ------------------------------------------------------------------------



def worklist(answers_handle: Any, query_handle: Any, issuer_aet: str, called_aet: str,
             remote_ip: str | None = None) -> int:
    """Called by the native trampoline for each worklist C-FIND; answers an ErrorCode."""
    from runtime import compat

    found, query = compat.WorklistAnswers(answers_handle), compat.WorklistQuery(query_handle)

    def answer(service: DicomService) -> None:
        request = WorklistRequest(query.WorklistGetDicomQuery(), issuer_aet, called_aet,
                                  remote_ip)
        for dicom in _answers(service, request, WORKLIST_MODEL, "worklist"):
            match = query.WorklistIsMatch(dicom)
            if match < 0:  # Orthanc could not read it (checked before; never silently dropped)
                raise verdicts.WrongAnswer(f"{service.name} (worklist) answered an item Orthanc "
                                           "cannot match against the query")
            if match:
                found.WorklistAddAnswer(query, dicom)

    return _serve_query("worklist", "worklist C-FIND", found, query,
                        DicomConnection(issuer_aet, called_aet, remote_ip), answer)


# -- C-MOVE ---------------------------------------------------------------------------

_LEVELS = {int(ResourceType.PATIENT): "PATIENT", int(ResourceType.STUDY): "STUDY",
           int(ResourceType.SERIES): "SERIES", int(ResourceType.INSTANCE): "INSTANCE"}


@dataclass
class _Move:
    """The driver of one C-MOVE of an ``@on_move`` handler: the instances left to send."""

    service: DicomService
    modality: str
    instances: list[str]
    sent: int = 0


@dataclass
class _CompatMove:
    service: DicomService
    driver: Any  # what the official plugin's create callback made (the request, for the legacy one)


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


def move_create(level: int, patient_id: str, accession_number: str, study_uid: str,
                series_uid: str, sop_uid: str, originator_aet: str, source_aet: str,
                target_aet: str, originator_id: int, remote_ip: str | None = None) -> Any:
    """A driver for one C-MOVE, or None to refuse it (the client gets a failure)."""
    service = registry.dicom_services.get("move")
    if service is None:
        return None
    request = MoveRequest(_LEVELS.get(level, ""), patient_id, accession_number, study_uid,
                          series_uid, sop_uid, originator_aet, source_aet, target_aet,
                          originator_id, remote_ip)
    where = f"C-MOVE from {originator_aet} to {target_aet}"
    try:
        if service.style == "compat" and service.with_connection:  # RegisterMoveCallback3
            return _CompatMove(service, service.handler(request.connection,
                                                        **request.compat_arguments(True)))
        if service.style == "compat":
            if service.helpers:  # RegisterMoveCallback2: the script makes the driver
                return _CompatMove(service, service.handler(**request.compat_arguments()))
            return _CompatMove(service, request.compat_arguments())
        modality = _modality_of(target_aet)
        ids = _handled(service, _ids, request, f"{service.name} (C-MOVE)")
        instances = [i for resource in ids for i in _instances_of(resource)]
        return _Move(service, modality, list(dict.fromkeys(instances)))
    except BaseException as error:
        _failed(service, where, error)
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


def move_size(driver: _Move | _CompatMove) -> int:
    """The number of sub-operations of a C-MOVE."""
    if isinstance(driver, _Move):
        return len(driver.instances)
    if not driver.service.helpers:
        return 1  # the official plugin's legacy callback: the whole move is one operation
    try:
        size = driver.service.helpers[0](driver.driver)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TypeError(f"answered {size!r} as the number of sub-operations, not an int >= 0")
        return size
    except BaseException as error:
        _failed(driver.service, "C-MOVE, its number of sub-operations", error)
        return 0


def move_apply(driver: _Move | _CompatMove) -> int:
    """Applies the next sub-operation; answers an ErrorCode."""
    service = driver.service
    try:
        if isinstance(driver, _Move):
            instance = driver.instances[driver.sent]
            driver.sent += 1
            sdk.rest_post(f"/modalities/{driver.modality}/store",
                          {"Resources": [instance], "Synchronous": True})
            return int(ErrorCode.SUCCESS)
        if not service.helpers:
            service.handler(**driver.driver)
            return int(ErrorCode.SUCCESS)
        code = service.helpers[1](driver.driver)
        return int(ErrorCode.SUCCESS) if code is None else int(code)
    except BaseException as error:
        return _failed(service, "a C-MOVE sub-operation", error)


def move_free(driver: _Move | _CompatMove) -> None:
    if isinstance(driver, _CompatMove) and driver.service.helpers:
        try:
            driver.service.helpers[2](driver.driver)
        except BaseException as error:
            _failed(driver.service, "ending a C-MOVE", error)


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
    service: DicomService
    reasons: dict[str, int] | None = None  # the decorator API: every answer at once
    data: Any = None  # the official plugin's: what its factory made


def commitment_create(job_id: str, transaction_uid: str, class_uids: list[str],
                      instance_uids: list[str], remote_aet: str, called_aet: str,
                      remote_ip: str | None = None) -> _Commitment:
    service = registry.dicom_services["storage_commitment"]
    if service.style == "compat":
        # RegisterStorageCommitmentScpCallback2's factory gets the connection instead of the AETs.
        who = ((DicomConnection(remote_aet, called_aet, remote_ip),) if service.with_connection
               else (remote_aet, called_aet))
        try:
            return _Commitment(service, data=service.handler(
                job_id, transaction_uid, class_uids, instance_uids, *who))
        except BaseException as error:  # Orthanc fails the whole request
            _failed(service, f"storage commitment {transaction_uid} from {remote_aet}", error)
            raise
    request = CommitmentRequest(job_id, transaction_uid, tuple(zip(class_uids, instance_uids, strict=True)),
                                remote_aet, called_aet, remote_ip)
    try:
        reasons = _handled(service, _reasons, request)
    except BaseException as error:
        _failed(service, f"storage commitment {transaction_uid} from {remote_aet}", error)
        failure = int(StorageCommitmentFailureReason.PROCESSING_FAILURE)
        reasons = {uid: failure for uid in instance_uids}
    return _Commitment(service, reasons=reasons)


def commitment_lookup(commitment: _Commitment, class_uid: str, instance_uid: str) -> int:
    if commitment.reasons is not None:
        return commitment.reasons.get(
            instance_uid, int(StorageCommitmentFailureReason.NO_SUCH_OBJECT_INSTANCE))
    try:
        return int(commitment.service.helpers[0](class_uid, instance_uid, commitment.data))
    except BaseException as error:
        _failed(commitment.service, f"storage commitment of {instance_uid}", error)
        return int(StorageCommitmentFailureReason.PROCESSING_FAILURE)


# -- C-STORE filters ------------------------------------------------------------------

REFUSED = verdicts.REFUSED
PROCESSING_FAILURE = verdicts.PROCESSING_FAILURE


def cstore_filter(instance_handle: Any) -> int:
    """Called by the native trampoline for each instance received by C-STORE: 0 stores it,
    another value is the DIMSE status that refuses it."""
    from runtime import compat

    dicom = compat.DicomInstance(instance_handle)
    incoming: IncomingInstance | None = None
    for gate in registry.cstore_filters:
        try:
            if gate.style == "compat":
                status = verdicts.cstore_status(gate.handler(dicom), None, "compat")
            else:
                if incoming is None:
                    incoming = IncomingInstance(dicom.GetInstanceData(),
                                                dicom.GetInstanceRemoteAet() or "",
                                                dicom.GetInstanceTransferSyntaxUid())
                status = _handled(gate, verdicts.cstore_status, incoming)
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
            return status
    return verdicts.STORE


def install(native: Any) -> None:
    """Registers the DICOM services the script answers with Orthanc (only while Orthanc starts)."""
    services = registry.dicom_services
    if "find" in services:
        native.register_find(find)
    if "worklist" in services:
        native.register_worklist(worklist)
    if "move" in services:
        native.register_move(move_create, move_size, move_apply, move_free)
    if "storage_commitment" in services:
        native.register_storage_commitment(commitment_create, commitment_lookup)
    if registry.cstore_filters:
        native.register_cstore_filter(cstore_filter)

