"""The ``orthanc`` module: the official Python plugin's API, on this runtime.

Inside the plugin (and in its workers) ``import orthanc`` gives this module,
so scripts written for the official plugin run unchanged. It is a thin layer
of adapters: registrations go to the runtime's registry (one dispatch path),
SDK calls to runtime.backend (the native binding in the master, the master
from a worker). Where the official plugin allows one callback of a kind,
this module allows several.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import answers, backend
from .compat_jobs import *  # noqa: F403  (the SDK's jobs: CreateJob, SubmitJob...)
from .enums import ChangeType, ErrorCode, HttpMethod, InstanceOrigin, ResourceType
from .errors import OrthancException
from .http import Response
from .registry import registry

__all__ = [
    "ChangeType", "ErrorCode", "HttpMethod", "InstanceOrigin", "ResourceType", "OrthancException",
    "RegisterRestCallback", "RegisterOnChangeCallback", "RegisterOnStoredInstanceCallback",
    "RegisterIncomingHttpRequestFilter", "RegisterReceivedInstanceCallback", "RegisterStorageArea",
    "RestApiGet", "RestApiGetAfterPlugins", "RestApiPost", "RestApiPostAfterPlugins",
    "RestApiPut", "RestApiPutAfterPlugins", "RestApiDelete", "RestApiDeleteAfterPlugins",
    "GetDicomForInstance", "LogInfo", "LogWarning", "LogError", "GetConfiguration",
    "GenerateRestApiAuthorizationToken", "GetErrorDescription", "GetOrthancVersion",
    "GetConfigurationPath", "RestOutput", "DicomInstance",
]


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


def RegisterOnStoredInstanceCallback(callback: Callable[..., Any]) -> None:
    """Calls ``callback(dicom, instanceId)`` while Orthanc stores each instance."""
    registry.add_stored_listener(callback, style="compat")


# -- REST API and other SDK calls -------------------------------------------

def RestApiGet(uri: str) -> bytes:
    return backend.call("rest_api_get", uri, False)  # type: ignore[no-any-return]


def RestApiGetAfterPlugins(uri: str) -> bytes:
    return backend.call("rest_api_get", uri, True)  # type: ignore[no-any-return]


def RestApiPost(uri: str, body: bytes | str) -> bytes:
    return backend.call("rest_api_post", uri, body, False)  # type: ignore[no-any-return]


def RestApiPostAfterPlugins(uri: str, body: bytes | str) -> bytes:
    return backend.call("rest_api_post", uri, body, True)  # type: ignore[no-any-return]


def RestApiPut(uri: str, body: bytes | str) -> bytes:
    return backend.call("rest_api_put", uri, body, False)  # type: ignore[no-any-return]


def RestApiPutAfterPlugins(uri: str, body: bytes | str) -> bytes:
    return backend.call("rest_api_put", uri, body, True)  # type: ignore[no-any-return]


def RestApiDelete(uri: str) -> None:
    backend.call("rest_api_delete", uri, False)


def RestApiDeleteAfterPlugins(uri: str) -> None:
    backend.call("rest_api_delete", uri, True)


def GetDicomForInstance(instanceId: str) -> bytes:
    return backend.call("get_dicom_for_instance", instanceId)  # type: ignore[no-any-return]


def LogInfo(message: str) -> None:
    backend.call("log_info", str(message))


def LogWarning(message: str) -> None:
    backend.call("log_warning", str(message))


def LogError(message: str) -> None:
    backend.call("log_error", str(message))


def GetConfiguration() -> str:
    """Orthanc's whole configuration as JSON text."""
    return backend.call("get_configuration")  # type: ignore[no-any-return]


def GetConfigurationPath() -> str:
    return backend.call("get_configuration_path")  # type: ignore[no-any-return]


def GenerateRestApiAuthorizationToken() -> str:
    return backend.call("generate_rest_api_authorization_token")  # type: ignore[no-any-return]


def GetErrorDescription(code: int) -> str:
    return backend.call("get_error_description", int(code))  # type: ignore[no-any-return]


def GetOrthancVersion() -> str:
    return backend.call("orthanc_version")  # type: ignore[no-any-return]


# -- objects valid only during a callback ----------------------------------

class RestOutput:
    """The answer of one REST request, as the official plugin names its methods.

    What Orthanc cannot send is refused here, before Orthanc sees it (see
    runtime.answers): a status it does not know answers 500 JSON naming it at
    once; a header with CR, LF or NUL is not set, and the request answers 500
    JSON naming it instead of whatever the callback answers next.
    """

    __slots__ = ("_output", "_where", "answered", "refused")

    def __init__(self, output: Any, where: str = "") -> None:
        self._output = output
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
        self._output.set_http_header("Content-Type", response.content_type)
        self._output.send_http_status(response.status, response.body)
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
            self._output.answer_buffer(data, mimeType)
            self.answered = True

    def SendMethodNotAllowed(self, allowedMethods: str) -> None:
        if answers.unsafe_header("Allow", allowedMethods):
            self._refuse(answers.header_refusal("Allow"))
        if self._answer():
            self._output.send_method_not_allowed(allowedMethods)
            self.answered = True

    def SendHttpStatusCode(self, status: int) -> None:
        if self._check_status(status) and self._answer():
            self._output.send_http_status_code(status)
            self.answered = True

    def SendHttpStatus(self, status: int, body: bytes | str) -> None:
        if self._check_status(status) and self._answer():
            if status in answers.NO_BODY_STATUSES:
                body = b""  # Orthanc would send it, and the client read it as the next answer
            self._output.send_http_status(status, body)
            self.answered = True

    def Redirect(self, redirection: str) -> None:
        if answers.unsafe_header("Location", redirection):
            self._refuse(answers.header_refusal("Location"))
        if self._answer():
            self._output.redirect(redirection)
            self.answered = True

    def SendUnauthorized(self, realm: str) -> None:
        if answers.unsafe_header("WWW-Authenticate", realm):
            self._refuse(answers.header_refusal("WWW-Authenticate"))
        if self._answer():
            self._output.send_unauthorized(realm)
            self.answered = True

    def SetHttpHeader(self, key: str, value: str) -> None:
        if answers.unsafe_header(key, value):
            self._refuse(answers.header_refusal(key))
            return
        self._output.set_http_header(key, value)

    def SetCookie(self, cookie: str, value: str) -> None:
        # Orthanc writes "Set-Cookie: <cookie>=<value>"; both parts are checked.
        if answers.unsafe_header(cookie, value):
            self._refuse(answers.header_refusal(f"Set-Cookie ({cookie})"))
            return
        self._output.set_cookie(cookie, value)


class DicomInstance:
    """An instance being stored, as the official plugin names its accessors."""

    __slots__ = ("_instance",)

    def __init__(self, instance: Any) -> None:
        self._instance = instance

    def GetInstanceSize(self) -> int:
        return self._instance.size()  # type: ignore[no-any-return]

    def GetInstanceData(self) -> bytes:
        return self._instance.data()  # type: ignore[no-any-return]

    def GetInstanceMetadata(self, key: str) -> str | None:
        return self._instance.metadata(key)  # type: ignore[no-any-return]

    def HasInstanceMetadata(self, key: str) -> bool:
        return self._instance.has_metadata(key)  # type: ignore[no-any-return]

    def GetInstanceOrigin(self) -> InstanceOrigin:
        return InstanceOrigin(self._instance.origin())

    def GetInstanceRemoteAet(self) -> str | None:
        return self._instance.remote_aet()  # type: ignore[no-any-return]

    def GetInstanceSimplifiedJson(self) -> str:
        return self._instance.simplified_json()  # type: ignore[no-any-return]

    def GetInstanceJson(self) -> str:
        return self._instance.json()  # type: ignore[no-any-return]

    def GetInstanceTransferSyntaxUid(self) -> str:
        return self._instance.transfer_syntax_uid()  # type: ignore[no-any-return]

    def HasInstancePixelData(self) -> bool:
        return self._instance.has_pixel_data()  # type: ignore[no-any-return]

    def GetInstanceFramesCount(self) -> int:
        return self._instance.frames_count()  # type: ignore[no-any-return]
