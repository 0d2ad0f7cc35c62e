"""A small Pythonic facade over the Orthanc SDK, the same in the master and in workers.

    from runtime import sdk
    study = sdk.rest_get(f'/studies/{study_id}')      # parsed JSON
    dicom = sdk.get_dicom(instance_id)                # bytes
    sdk.rest_post('/modalities/sample/store', study_id)
    sdk.log.info('done')

REST calls answer parsed JSON when Orthanc answers JSON, bytes otherwise, and
raise OrthancError (with the HTTP status and Orthanc's error code) when
Orthanc answers an error.
"""

from __future__ import annotations

import json
from typing import Any

from . import backend
from .enums import ErrorCode
from .errors import OrthancError, OrthancException, http_status_of

__all__ = ["rest_get", "rest_post", "rest_put", "rest_delete", "get_dicom", "log", "configuration",
           "get_global_property", "set_global_property"]


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


def _answer(method: str, uri: str, result: tuple[int, int, str, bytes]) -> Any:
    status, code, headers_text, body = result
    if status >= 400 or status == 0:
        message = f"{method} {uri} failed"
        orthanc_code = code or ErrorCode.INTERNAL_ERROR
        try:
            details = json.loads(body)
            message = f"{method} {uri}: {details.get('Message') or details.get('OrthancError')}"
            orthanc_code = int(details.get("OrthancStatus", orthanc_code))
        except (ValueError, AttributeError):
            if body:
                message = f"{method} {uri}: {body[:200].decode(errors='replace')}"
        raise OrthancError(int(orthanc_code), message, status or 500)
    content_type = ""
    try:
        headers = json.loads(headers_text) if headers_text else {}
        for key, value in headers.items():
            if key.lower() == "content-type":
                content_type = value
    except ValueError:
        pass
    if content_type.startswith("application/json"):
        return json.loads(body) if body else None
    return body


def _call(method: str, uri: str, body: Any, after_plugins: bool, headers: dict[str, str] | None) -> Any:
    try:
        result = backend.call(
            "call_rest_api", method, uri, _encode(body), dict(headers or {}), after_plugins
        )
    except OrthancError:
        raise
    except OrthancException as error:  # Orthanc answered with an error code and no HTTP status
        raise OrthancError(error.code, f"{method} {uri}: {error.message}",
                           http_status_of(error)) from None
    return _answer(method, uri, result)


def rest_get(uri: str, *, after_plugins: bool = False, headers: dict[str, str] | None = None) -> Any:
    """GET ``uri`` on Orthanc's REST API (``after_plugins``: through the plugins' routes too)."""
    return _call("GET", uri, None, after_plugins, headers)


def rest_post(
    uri: str, body: Any = b"", *, after_plugins: bool = False, headers: dict[str, str] | None = None
) -> Any:
    """POST ``body`` (bytes, str, or a dict/list sent as JSON) to ``uri``."""
    return _call("POST", uri, body, after_plugins, headers)


def rest_put(
    uri: str, body: Any = b"", *, after_plugins: bool = False, headers: dict[str, str] | None = None
) -> Any:
    """PUT ``body`` (bytes, str, or a dict/list sent as JSON) to ``uri``."""
    return _call("PUT", uri, body, after_plugins, headers)


def rest_delete(uri: str, *, after_plugins: bool = False, headers: dict[str, str] | None = None) -> None:
    """DELETE ``uri``."""
    _call("DELETE", uri, None, after_plugins, headers)


def get_dicom(instance_id: str) -> bytes:
    """The DICOM file of an instance, as bytes."""
    return backend.call("get_dicom_for_instance", instance_id)  # type: ignore[no-any-return]


def configuration() -> dict[str, Any]:
    """Orthanc's whole configuration, parsed."""
    return json.loads(backend.call("get_configuration"))  # type: ignore[no-any-return]


def get_global_property(property: int, default: str = "") -> str:
    """A global property of Orthanc's database (plugins use identifiers from 1024 on)."""
    return backend.call("get_global_property", property, default)  # type: ignore[no-any-return]


def set_global_property(property: int, value: str) -> None:
    """Stores ``value`` in Orthanc's database, durably, under ``property`` (1024 or more)."""
    backend.call("set_global_property", property, value)


class _Log:
    """Orthanc's log: ``sdk.log.info/warning/error(message)``."""

    def info(self, message: str) -> None:
        backend.call("log_info", str(message))

    def warning(self, message: str) -> None:
        backend.call("log_warning", str(message))

    def error(self, message: str) -> None:
        backend.call("log_error", str(message))


log = _Log()
