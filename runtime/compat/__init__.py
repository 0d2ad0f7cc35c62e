"""The ``orthanc`` module: the official Python plugin's API, on this runtime.

Inside the plugin (and in its workers) ``import orthanc`` gives this module,
so scripts written for the official plugin run unchanged. Most of it is
generated from the SDK header (runtime.sdk.calls: functions, classes and their
methods; runtime.enums); what is written here by hand is what the header
cannot say: registrations, which go to the runtime's registry (one dispatch
path), and the answers of RestOutput, checked before Orthanc sees them.
Where the official plugin allows one callback of a kind, this module allows
several. ``dir(orthanc)`` lists the API and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime import answers, enums
from runtime.enums import *  # noqa: F403
from runtime.errors import OrthancException as OrthancException
from runtime.http import Response
from runtime.jobs import callback_jobs
from runtime.registry import registry
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
    registry.add_route(pattern, callback, None, style="compat")


def RegisterOnChangeCallback(callback: Callable[..., Any]) -> None:
    """Calls ``callback(changeType, level, resourceId)`` on the change queue thread."""
    registry.add_change_listener(callback, style="compat")


def RegisterIncomingHttpRequestFilter(callback: Callable[..., Any]) -> None:
    """``callback(uri, method=, ip=, headers=, get=)`` returns True to let the request through."""
    registry.add_http_filter(callback, style="compat")


def RegisterReceivedInstanceCallback(callback: Callable[..., Any]) -> None:
    """``callback(receivedDicom)`` returns ``(action, modified DICOM or None)``."""
    registry.set_received_instance(callback, style="compat")


def RegisterStorageArea(create: Callable[..., Any], read: Callable[..., Any],
                        remove: Callable[..., Any]) -> None:
    """``create(uuid, contentType, data)``, ``read(uuid, contentType)``, ``remove(uuid, contentType)``."""
    registry.set_storage_area(create, read, remove, style="compat")


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
    registry.set_storage_area(create, read, remove, style="compat", custom_data=True)


def RegisterFindCallback(callback: Callable[..., Any]) -> None:
    """``callback(answers: FindAnswers, query: FindQuery, issuerAet, calledAet)`` answers C-FIND."""
    registry.set_dicom_service("find", callback, style="compat")


def RegisterWorklistCallback(callback: Callable[..., Any]) -> None:
    """``callback(answers: WorklistAnswers, query: WorklistQuery, issuerAet, calledAet)``."""
    registry.set_dicom_service("worklist", callback, style="compat")


def RegisterMoveCallback(callback: Callable[..., Any]) -> None:
    """``callback(**request)`` carries out a whole C-MOVE (counted as one sub-operation);
    ``request`` has Level, PatientID, AccessionNumber, StudyInstanceUID, SeriesInstanceUID,
    SOPInstanceUID, OriginatorAET, SourceAET, TargetAET and OriginatorID."""
    registry.set_dicom_service("move", callback, style="compat")


def RegisterMoveCallback2(createMoveCallback: Callable[..., Any],
                          getMoveSizeCallback: Callable[[Any], int],
                          applyMoveCallback: Callable[[Any], Any],
                          freeMoveCallback: Callable[[Any], None]) -> None:
    """A C-MOVE in sub-operations: ``createMoveCallback(**request)`` makes a driver,
    ``getMoveSizeCallback(driver)`` counts its sub-operations, ``applyMoveCallback(driver)``
    carries out the next one (an ErrorCode, or None for success), ``freeMoveCallback(driver)``
    ends it."""
    registry.set_dicom_service("move", createMoveCallback, style="compat",
                               helpers=(getMoveSizeCallback, applyMoveCallback, freeMoveCallback))


def RegisterStorageCommitmentScpCallback(factory: Callable[..., Any],
                                         lookup: Callable[[str, str, Any], int]) -> None:
    """``factory(jobId, transactionUid, sopClassUids, sopInstanceUids, remoteAet, calledAet)``
    makes the data of one request; ``lookup(sopClassUid, sopInstanceUid, data)`` answers a
    StorageCommitmentFailureReason for each instance."""
    registry.set_dicom_service("storage_commitment", factory, style="compat", helpers=(lookup,))


# The official 7.x registrations: who asked comes as a DicomConnection (remote AET, called
# AET, remote IP) on every Orthanc; its remote IP is None before Orthanc 1.12.10.

def RegisterFindCallback2(callback: Callable[[Any, Any, DicomConnection], Any]) -> None:
    """``callback(answers: FindAnswers, query: FindQuery, connection: DicomConnection)``
    answers C-FIND."""
    registry.set_dicom_service("find", callback, style="compat", with_connection=True)


def RegisterWorklistCallback2(callback: Callable[[Any, Any, DicomConnection], Any]) -> None:
    """``callback(answers: WorklistAnswers, query: WorklistQuery, connection: DicomConnection)``."""
    registry.set_dicom_service("worklist", callback, style="compat", with_connection=True)


def RegisterMoveCallback3(createMoveCallback: Callable[..., Any],
                          getMoveSizeCallback: Callable[[Any], int],
                          applyMoveCallback: Callable[[Any], Any],
                          freeMoveCallback: Callable[[Any], None]) -> None:
    """As RegisterMoveCallback2, but ``createMoveCallback(connection, **request)`` gets the
    DicomConnection first, and ``request`` has Level, PatientID, AccessionNumber,
    StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, TargetAET and OriginatorID."""
    registry.set_dicom_service("move", createMoveCallback, style="compat",
                               helpers=(getMoveSizeCallback, applyMoveCallback, freeMoveCallback),
                               with_connection=True)


def RegisterStorageCommitmentScpCallback2(factory: Callable[..., Any],
                                          lookup: Callable[[str, str, Any], int]) -> None:
    """``factory(jobId, transactionUid, sopClassUids, sopInstanceUids, connection)`` makes the
    data of one request; ``lookup(sopClassUid, sopInstanceUid, data)`` answers a
    StorageCommitmentFailureReason for each instance."""
    registry.set_dicom_service("storage_commitment", factory, style="compat", helpers=(lookup,),
                               with_connection=True)


def RegisterIncomingCStoreInstanceFilter(callback: Callable[..., Any]) -> None:
    """``callback(receivedDicom: DicomInstance)`` answers 0 to store an instance received by
    C-STORE, or the DIMSE status that refuses it."""
    registry.add_cstore_filter(callback, style="compat")


def RegisterOnStoredInstanceCallback(callback: Callable[..., Any]) -> None:
    """Calls ``callback(dicom, instanceId)`` while Orthanc stores each instance."""
    registry.add_stored_listener(callback, style="compat")


# -- SDK calls the header does not have -----------------------------------

def GetOrthancVersion() -> str:
    return transport.call("orthanc_version")  # type: ignore[no-any-return]


# -- objects valid only during a callback ----------------------------------

class RestOutput(calls.RestOutputMethods):
    """The answer of one REST request, as the official plugin names its methods.

    What Orthanc cannot send is refused here, before Orthanc sees it (see
    runtime.answers): a status it does not know answers 500 JSON naming it at
    once; a header with CR, LF or NUL is not set, and the request answers 500
    JSON naming it instead of whatever the callback answers next.
    """

    __slots__ = ("_where", "answered", "refused")

    def __init__(self, output: Any, where: str = "") -> None:
        super().__init__(output)
        self._where = where
        self.answered = False
        self.refused: Response | None = None

    def _answer(self) -> bool:
        """Whether the callback's answer may go out; if not, the refusal goes instead."""
        if self.refused is None:
            return True
        self._send(self.refused)
        return False

    def _send(self, response: Response) -> None:
        self._handle.set_http_header("Content-Type", response.content_type)
        self._handle.send_http_status(response.status, response.body)
        self.answered = True

    def _refuse(self, response: Response) -> None:
        answers.log_error(f"{self._where or 'orthanc-runtime'}: answer refused, 500 sent "
                          f"instead: {response.body.decode()}")
        if self.refused is None:
            self.refused = response

    def _check_status(self, status: int) -> bool:
        reason = answers.unsendable_status(status, send_status_only=True)
        if reason is None:
            return True
        self._refuse(answers.error_response(500, reason, type_name="UnsupportedStatus",
                                            refused_status=status))
        self._answer()
        return False

    def AnswerBuffer(self, data: bytes | str, mimeType: str) -> None:
        if answers.unsafe_header("Content-Type", mimeType):
            self._refuse(answers.header_refusal("Content-Type"))
        if self._answer():
            self._handle.answer_buffer(data, mimeType)
            self.answered = True

    def SendMethodNotAllowed(self, allowedMethods: str) -> None:
        if answers.unsafe_header("Allow", allowedMethods):
            self._refuse(answers.header_refusal("Allow"))
        if self._answer():
            self._handle.send_method_not_allowed(allowedMethods)
            self.answered = True

    def SendHttpStatusCode(self, status: int) -> None:
        if self._check_status(status) and self._answer():
            self._handle.send_http_status_code(status)
            self.answered = True

    def SendHttpStatus(self, status: int, body: bytes | str, bodySize: int | None = None) -> None:
        """Answers ``status`` with ``body``; official 4.0 also passes the body's size."""
        if bodySize is not None:
            body = (body.encode() if isinstance(body, str) else bytes(body))[:bodySize]
        if self._check_status(status) and self._answer():
            if status in answers.NO_BODY_STATUSES:
                body = b""  # Orthanc would send it, and the client read it as the next answer
            self._handle.send_http_status(status, body)
            self.answered = True

    def Redirect(self, redirection: str) -> None:
        if answers.unsafe_header("Location", redirection):
            self._refuse(answers.header_refusal("Location"))
        if self._answer():
            self._handle.redirect(redirection)
            self.answered = True

    def SendUnauthorized(self, realm: str) -> None:
        if answers.unsafe_header("WWW-Authenticate", realm):
            self._refuse(answers.header_refusal("WWW-Authenticate"))
        if self._answer():
            self._handle.send_unauthorized(realm)
            self.answered = True

    def SetHttpHeader(self, key: str, value: str) -> None:
        if answers.unsafe_header(key, value):
            self._refuse(answers.header_refusal(key))
            return
        self._handle.set_http_header(key, value)

    def SetCookie(self, cookie: str, value: str) -> None:
        # Orthanc writes "Set-Cookie: <cookie>=<value>"; both parts are checked.
        if answers.unsafe_header(cookie, value):
            self._refuse(answers.header_refusal(f"Set-Cookie ({cookie})"))
            return
        self._handle.set_cookie(cookie, value)

    # Answers written by generated methods: they count as the callback's answer.
    def CompressAndAnswerPngImage(self, format: int, width: int, height: int, pitch: int,
                                  buffer: bytes) -> None:
        if self._answer():
            super().CompressAndAnswerPngImage(format, width, height, pitch, buffer)
            self.answered = True

    def CompressAndAnswerJpegImage(self, format: int, width: int, height: int, pitch: int,
                                   buffer: bytes, quality: int) -> None:
        if self._answer():
            super().CompressAndAnswerJpegImage(format, width, height, pitch, buffer, quality)
            self.answered = True

    def StartMultipartAnswer(self, subType: str, contentType: str) -> None:
        if self._answer():
            super().StartMultipartAnswer(subType, contentType)
            self.answered = True

    # Streamed answers (Orthanc 1.12.6; before, OrthancException names the version needed).
    def StartStreamAnswer(self, mimeType: str) -> None:
        """Starts an answer sent in chunks as they come (``SendStreamChunk``)."""
        if answers.unsafe_header("Content-Type", mimeType):
            self._refuse(answers.header_refusal("Content-Type"))
        if self._answer():
            self._handle.start_stream_answer(mimeType)
            self.answered = True

    def SendStreamChunk(self, data: bytes | str) -> None:
        """Sends one chunk of the answer that ``StartStreamAnswer`` started."""
        self._handle.send_stream_chunk(data)
