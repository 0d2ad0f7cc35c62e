"""How the official plugin's callbacks are called: one adapter per kind of registration.

``orthanc.Register*`` (runtime.compat) records a callback with its adapter;
runtime.registry.invoke makes the record's invoker from it when the plugin
registers the handlers with Orthanc. Each invoker takes the arguments the
runtime's callback module passes every handler of that kind (runtime.callbacks),
builds the official objects (``RestOutput``, ``DicomInstance``,
``FindAnswers``...) from Orthanc's handles, and calls the callback with the
official signature; official-style callbacks always run in the master, on
Orthanc's thread, since these objects live only there::

    runtime.callbacks.rest --entry.invoke(output, url, request, params, groups, pattern)-->
        route(entry): callback(RestOutput(output), url, **request); what is left to write

The kinds and what each invoker answers are listed with each adapter below.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from runtime import answers
from runtime.enums import HttpMethod, InstanceOrigin, ReceivedInstanceAction
from runtime.events import Change
from runtime.http import Response
from runtime.registry import DicomService, Handler, verdicts
from runtime.registry.invoke import now
from runtime.requests import DicomConnection, FilterRequest, IncomingInstance, MoveRequest
from runtime.sdk import calls
from runtime.sdk.calls import DicomInstance, FindAnswers, FindQuery, WorklistAnswers, WorklistQuery

Invoker = Callable[..., Any]


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

    def _refuse_unsafe(self, name: str, value: str, shown: str | None = None) -> bool:
        """Refuses the answer if ``value`` cannot stand in the header ``name`` (a CR or LF);
        True if it did."""
        if answers.unsafe_header(name, value):
            self._refuse(answers.header_refusal(shown or name))
            return True
        return False

    def _check_status(self, status: int) -> bool:
        reason = answers.unsendable_status(status, send_status_only=True)
        if reason is None:
            return True
        self._refuse(answers.error_response(500, reason, type_name="UnsupportedStatus",
                                            refused_status=status))
        self._answer()
        return False

    def AnswerBuffer(self, data: bytes | str, mimeType: str) -> None:
        self._refuse_unsafe("Content-Type", mimeType)
        if self._answer():
            self._handle.answer_buffer(data, mimeType)
            self.answered = True

    def SendMethodNotAllowed(self, allowedMethods: str) -> None:
        self._refuse_unsafe("Allow", allowedMethods)
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
        self._refuse_unsafe("Location", redirection)
        if self._answer():
            self._handle.redirect(redirection)
            self.answered = True

    def SendUnauthorized(self, realm: str) -> None:
        self._refuse_unsafe("WWW-Authenticate", realm)
        if self._answer():
            self._handle.send_unauthorized(realm)
            self.answered = True

    def SetHttpHeader(self, key: str, value: str) -> None:
        if self._refuse_unsafe(key, value):
            return
        self._handle.set_http_header(key, value)

    def SetCookie(self, cookie: str, value: str) -> None:
        # Orthanc writes "Set-Cookie: <cookie>=<value>"; both parts are checked.
        if self._refuse_unsafe(cookie, value, f"Set-Cookie ({cookie})"):
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
        self._refuse_unsafe("Content-Type", mimeType)
        if self._answer():
            self._handle.start_stream_answer(mimeType)
            self.answered = True

    def SendStreamChunk(self, data: bytes | str) -> None:
        """Sends one chunk of the answer that ``StartStreamAnswer`` started."""
        self._handle.send_stream_chunk(data)


# -- the adapters: record -> invoker ---------------------------------------------------------

def route(entry: Handler) -> Invoker:
    """``callback(output, uri, **request)``; answers what is left to write (an error the
    callback did not answer, a refused answer), or None."""

    def invoke(output: Any, url: str, request: dict[str, Any], params: dict[str, Any],
               groups: tuple[str, ...], pattern: str) -> Response | None:
        where = f"{entry.name} ({request['method']} {url})"
        out = RestOutput(output, where)
        try:
            entry.handler(out, url, **request)
        except BaseException as error:  # as a decorated route: nothing may stop Orthanc
            return None if out.answered else answers.error_to_response(error, where, pattern)
        return out.refused if out.refused is not None and not out.answered else None

    return invoke


def change(entry: Handler) -> Invoker:
    """``callback(changeType, level, resourceId)``, "" where there is no resource."""
    handler = entry.handler

    def invoke(event: Change) -> Future[Any]:
        return now(handler, event.type, event.level, event.resource_id or "")

    return invoke


def stored_instance(entry: Handler) -> Invoker:
    """``callback(dicom, instanceId)`` on Orthanc's ingest thread, the DicomInstance alive."""
    handler = entry.handler

    def invoke(dicom: Any, instance_id: str) -> None:
        handler(DicomInstance(dicom), instance_id)

    return invoke


def http_filter(entry: Handler) -> Invoker:
    """``callback(uri, method=, ip=, headers=, get=)``, its method a plain int; answers the
    checked verdict."""
    handler = entry.handler

    def invoke(request: FilterRequest) -> bool:
        return verdicts.http_verdict(handler(
            request.uri, method=int(HttpMethod[request.method]), ip=request.ip,
            headers=dict(request.headers.items()), get=request.query))

    return invoke


def received_instance(entry: Handler) -> Invoker:
    """``callback(receivedDicom)`` (newer ones: ``, origin``) answers (action, bytes or
    None); answers (action, the modified file or None)."""
    handler = entry.handler
    try:
        takes_origin = len(inspect.signature(handler).parameters) >= 2
    except (TypeError, ValueError):
        takes_origin = False

    def invoke(data: bytes, origin: int) -> tuple[int, bytes | None]:
        answer = handler(data, InstanceOrigin(origin)) if takes_origin else handler(data)
        action, modified = answer
        action = int(action)
        if action == ReceivedInstanceAction.MODIFY:
            return action, bytes(modified)
        known = (ReceivedInstanceAction.KEEP_AS_IS, ReceivedInstanceAction.DISCARD)
        return (action if action in known else int(ReceivedInstanceAction.DISCARD)), None

    return invoke


def _query(entry: Handler, answers_type: type, query_type: type, with_connection: bool) -> Invoker:
    handler = entry.handler

    def invoke(answers_handle: Any, query_handle: Any, connection: DicomConnection) -> list[bytes]:
        found, query = answers_type(answers_handle), query_type(query_handle)
        if with_connection:
            handler(found, query, connection)
        else:
            handler(found, query, connection.remote_aet, connection.called_aet)
        return []  # the callback added its answers itself

    return invoke


def find(entry: Handler) -> Invoker:
    """``callback(answers: FindAnswers, query: FindQuery, issuerAet, calledAet)``."""
    return _query(entry, FindAnswers, FindQuery, False)


def find_with_connection(entry: Handler) -> Invoker:
    """``callback(answers: FindAnswers, query: FindQuery, connection)`` (official 7.x)."""
    return _query(entry, FindAnswers, FindQuery, True)


def worklist(entry: Handler) -> Invoker:
    """``callback(answers: WorklistAnswers, query: WorklistQuery, issuerAet, calledAet)``."""
    return _query(entry, WorklistAnswers, WorklistQuery, False)


def worklist_with_connection(entry: Handler) -> Invoker:
    """``callback(answers: WorklistAnswers, query: WorklistQuery, connection)`` (official 7.x)."""
    return _query(entry, WorklistAnswers, WorklistQuery, True)


class _Move:
    """The driver of one C-MOVE of the official callbacks: what the create callback made."""

    def __init__(self, service: DicomService, driver: Any) -> None:
        self.helpers = service.helpers
        self.handler = service.handler
        self.driver = driver

    def size(self) -> int:
        if not self.helpers:
            return 1  # the legacy callback: the whole move is one operation
        return self.helpers[0](self.driver)  # type: ignore[no-any-return]

    def apply(self) -> int | None:
        if not self.helpers:
            self.handler(**self.driver)
            return None
        return self.helpers[1](self.driver)  # type: ignore[no-any-return]

    def free(self) -> None:
        if self.helpers:
            self.helpers[2](self.driver)


def move(entry: Handler) -> Invoker:
    """RegisterMoveCallback: ``callback(**request)`` carries out the whole move at apply."""
    assert isinstance(entry, DicomService)
    return lambda request: _Move(entry, request.compat_arguments())


def move_in_steps(entry: Handler) -> Invoker:
    """RegisterMoveCallback2: ``create(**request)`` makes the driver of size/apply/free."""
    assert isinstance(entry, DicomService)
    return lambda request: _Move(entry, entry.handler(**request.compat_arguments()))


def move_with_connection(entry: Handler) -> Invoker:
    """RegisterMoveCallback3: ``create(connection, **request)``, without the AETs."""
    assert isinstance(entry, DicomService)

    def invoke(request: MoveRequest) -> _Move:
        return _Move(entry, entry.handler(request.connection, **request.compat_arguments(True)))

    return invoke


def _commitment(entry: Handler, with_connection: bool) -> Invoker:
    assert isinstance(entry, DicomService)
    factory, lookup = entry.handler, entry.helpers[0]

    def invoke(job_id: str, transaction_uid: str, class_uids: list[str],
               instance_uids: list[str], connection: DicomConnection) -> Callable[[str, str], int]:
        who = (connection,) if with_connection else (connection.remote_aet, connection.called_aet)
        data = factory(job_id, transaction_uid, class_uids, instance_uids, *who)
        return lambda class_uid, instance_uid: int(lookup(class_uid, instance_uid, data))

    return invoke


def storage_commitment(entry: Handler) -> Invoker:
    """``factory(jobId, transactionUid, classUids, instanceUids, remoteAet, calledAet)``
    makes the data that ``lookup(classUid, instanceUid, data)`` answers from."""
    return _commitment(entry, False)


def storage_commitment_with_connection(entry: Handler) -> Invoker:
    """As storage_commitment, the factory getting the connection instead of the AETs."""
    return _commitment(entry, True)


def cstore_filter(entry: Handler) -> Invoker:
    """``callback(receivedDicom: DicomInstance)`` answers 0 or a DIMSE failure status."""
    handler = entry.handler

    def invoke(dicom: DicomInstance, incoming: Callable[[], IncomingInstance]) -> int:
        return verdicts.cstore_status(handler(dicom), None, "compat")

    return invoke

