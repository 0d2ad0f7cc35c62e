"""The ``orthanc`` module: the official Python plugin's API, on this runtime.

Inside the plugin (and in its workers) ``import orthanc`` gives this module,
so scripts written for the official plugin run unchanged. Most of it is
generated from the SDK header (runtime.sdk.calls: functions, classes and their
methods; runtime.enums); what is written here by hand is what the header
cannot say: registrations, which go to the runtime's registry (one dispatch
path) with the adapter that calls each kind of callback as the official plugin
does (runtime.compat.adapters), and the answers of RestOutput, checked before
Orthanc sees them.
Where the official plugin allows one callback of a kind, this module allows
several. ``dir(orthanc)`` lists the API and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime import enums
from runtime.compat import adapters
from runtime.compat.adapters import RestOutput as RestOutput
from runtime.enums import *  # noqa: F403
from runtime.errors import OrthancException as OrthancException
from runtime.jobs import callback_jobs
from runtime.registry import active
from runtime.requests import DicomConnection as DicomConnection
from runtime.sdk import calls, transport
from runtime.sdk.calls import *  # noqa: F403  (the generated API is this module's API)

# The SDK's jobs, hand-written: their Job (Python callbacks) stands in for the generated one.
Job = callback_jobs.Job  # type: ignore[assignment, misc]
CreateJob = callback_jobs.CreateJob
SubmitJob = callback_jobs.SubmitJob
FreeJob = callback_jobs.FreeJob
RegisterJobsUnserializer = callback_jobs.RegisterJobsUnserializer

__all__ = sorted({
    *calls.__all__, *enums.__all__, *callback_jobs.__all__, "OrthancException", "RestOutput",
    "RegisterRestCallback", "RegisterOnChangeCallback", "RegisterOnStoredInstanceCallback",
    "RegisterIncomingHttpRequestFilter", "RegisterReceivedInstanceCallback", "RegisterStorageArea",
    "RegisterStorageArea3",
    "RegisterFindCallback", "RegisterWorklistCallback", "RegisterMoveCallback",
    "RegisterMoveCallback2", "RegisterStorageCommitmentScpCallback",
    "RegisterFindCallback2", "RegisterWorklistCallback2", "RegisterMoveCallback3",
    "RegisterStorageCommitmentScpCallback2", "DicomConnection",
    "RegisterIncomingCStoreInstanceFilter",
    "GetOrthancVersion",
})


def __dir__() -> list[str]:
    return list(__all__)


# -- registration ------------------------------------------------------------

def RegisterRestCallback(pattern: str, callback: Callable[..., Any]) -> None:
    """Calls ``callback(output, uri, **request)`` for the URIs matching the regex ``pattern``.

    Raises ValueError if Orthanc's regex engine would refuse the pattern.
    """
    active().add_route(pattern, callback, None, style="compat", adapter=adapters.route)


def RegisterOnChangeCallback(callback: Callable[..., Any]) -> None:
    """Calls ``callback(changeType, level, resourceId)`` on the change queue thread."""
    active().add_change_listener(callback, style="compat", adapter=adapters.change)


def RegisterIncomingHttpRequestFilter(callback: Callable[..., Any]) -> None:
    """``callback(uri, method=, ip=, headers=, get=)`` returns True to let the request through."""
    active().add_http_filter(callback, style="compat", adapter=adapters.http_filter)


def RegisterReceivedInstanceCallback(callback: Callable[..., Any]) -> None:
    """``callback(receivedDicom)`` returns ``(action, modified DICOM or None)``."""
    active().set_received_instance(callback, style="compat",
                                   adapter=adapters.received_instance)


def RegisterStorageArea(create: Callable[..., Any], read: Callable[..., Any],
                        remove: Callable[..., Any]) -> None:
    """``create(uuid, contentType, data)``, ``read(uuid, contentType)``, ``remove(uuid, contentType)``."""
    active().set_storage_area(create, read, remove, style="compat")


def RegisterStorageArea3(create: Callable[..., Any], read: Callable[..., Any],
                         remove: Callable[..., Any]) -> None:
    """The storage area with custom data (Orthanc 1.12.8 and newer).

    ``create(uuid, contentType, compressionType, content, dicomInstance)`` answers
    ``(ErrorCode, customData)``: Orthanc keeps ``customData`` (bytes or None) with the file;
    ``dicomInstance`` is the DicomInstance being stored, or None for other files.
    ``read(uuid, contentType, rangeStart, size, customData)`` answers ``(ErrorCode, bytes)``,
    exactly ``size`` bytes from ``rangeStart``. ``remove(uuid, contentType, customData)``
    answers an ErrorCode. On an older Orthanc, registering raises OrthancException naming
    the version needed."""
    transport.require_orthanc("RegisterStorageArea3", 1, 12, 8)
    active().set_storage_area(create, read, remove, style="compat", custom_data=True)


def RegisterFindCallback(callback: Callable[..., Any]) -> None:
    """``callback(answers: FindAnswers, query: FindQuery, issuerAet, calledAet)`` answers C-FIND."""
    active().set_dicom_service("find", callback, style="compat", adapter=adapters.find)


def RegisterWorklistCallback(callback: Callable[..., Any]) -> None:
    """``callback(answers: WorklistAnswers, query: WorklistQuery, issuerAet, calledAet)``."""
    active().set_dicom_service("worklist", callback, style="compat",
                               adapter=adapters.worklist)


def RegisterMoveCallback(callback: Callable[..., Any]) -> None:
    """``callback(**request)`` carries out a whole C-MOVE (counted as one sub-operation);
    ``request`` has Level, PatientID, AccessionNumber, StudyInstanceUID, SeriesInstanceUID,
    SOPInstanceUID, OriginatorAET, SourceAET, TargetAET and OriginatorID."""
    active().set_dicom_service("move", callback, style="compat", adapter=adapters.move)


def RegisterMoveCallback2(createMoveCallback: Callable[..., Any],
                          getMoveSizeCallback: Callable[[Any], int],
                          applyMoveCallback: Callable[[Any], Any],
                          freeMoveCallback: Callable[[Any], None]) -> None:
    """A C-MOVE in sub-operations: ``createMoveCallback(**request)`` makes a driver,
    ``getMoveSizeCallback(driver)`` counts its sub-operations, ``applyMoveCallback(driver)``
    carries out the next one (an ErrorCode, or None for success), ``freeMoveCallback(driver)``
    ends it."""
    active().set_dicom_service("move", createMoveCallback, style="compat",
                               helpers=(getMoveSizeCallback, applyMoveCallback, freeMoveCallback),
                               adapter=adapters.move_in_steps)


def RegisterStorageCommitmentScpCallback(factory: Callable[..., Any],
                                         lookup: Callable[[str, str, Any], int]) -> None:
    """``factory(jobId, transactionUid, sopClassUids, sopInstanceUids, remoteAet, calledAet)``
    makes the data of one request; ``lookup(sopClassUid, sopInstanceUid, data)`` answers a
    StorageCommitmentFailureReason for each instance."""
    active().set_dicom_service("storage_commitment", factory, style="compat", helpers=(lookup,),
                               adapter=adapters.storage_commitment)


# The official 7.x registrations: who asked comes as a DicomConnection (remote AET, called
# AET, remote IP) on every Orthanc; its remote IP is None before Orthanc 1.12.10.

def RegisterFindCallback2(callback: Callable[[Any, Any, DicomConnection], Any]) -> None:
    """``callback(answers: FindAnswers, query: FindQuery, connection: DicomConnection)``
    answers C-FIND."""
    active().set_dicom_service("find", callback, style="compat",
                               adapter=adapters.find_with_connection)


def RegisterWorklistCallback2(callback: Callable[[Any, Any, DicomConnection], Any]) -> None:
    """``callback(answers: WorklistAnswers, query: WorklistQuery, connection: DicomConnection)``."""
    active().set_dicom_service("worklist", callback, style="compat",
                               adapter=adapters.worklist_with_connection)


def RegisterMoveCallback3(createMoveCallback: Callable[..., Any],
                          getMoveSizeCallback: Callable[[Any], int],
                          applyMoveCallback: Callable[[Any], Any],
                          freeMoveCallback: Callable[[Any], None]) -> None:
    """As RegisterMoveCallback2, but ``createMoveCallback(connection, **request)`` gets the
    DicomConnection first, and ``request`` has Level, PatientID, AccessionNumber,
    StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, TargetAET and OriginatorID."""
    active().set_dicom_service("move", createMoveCallback, style="compat",
                               helpers=(getMoveSizeCallback, applyMoveCallback, freeMoveCallback),
                               adapter=adapters.move_with_connection)


def RegisterStorageCommitmentScpCallback2(factory: Callable[..., Any],
                                          lookup: Callable[[str, str, Any], int]) -> None:
    """``factory(jobId, transactionUid, sopClassUids, sopInstanceUids, connection)`` makes the
    data of one request; ``lookup(sopClassUid, sopInstanceUid, data)`` answers a
    StorageCommitmentFailureReason for each instance."""
    active().set_dicom_service("storage_commitment", factory, style="compat", helpers=(lookup,),
                               adapter=adapters.storage_commitment_with_connection)


def RegisterIncomingCStoreInstanceFilter(callback: Callable[..., Any]) -> None:
    """``callback(receivedDicom: DicomInstance)`` answers 0 to store an instance received by
    C-STORE, or the DIMSE status that refuses it."""
    active().add_cstore_filter(callback, style="compat", adapter=adapters.cstore_filter)


def RegisterOnStoredInstanceCallback(callback: Callable[..., Any]) -> None:
    """Calls ``callback(dicom, instanceId)`` while Orthanc stores each instance."""
    active().add_stored_listener(callback, style="compat", adapter=adapters.stored_instance)


# -- SDK calls the header does not have -----------------------------------

def GetOrthancVersion() -> str:
    return transport.call("orthanc_version")  # type: ignore[no-any-return]
