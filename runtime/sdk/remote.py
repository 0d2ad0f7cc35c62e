"""SDK calls from a process that has no plugin: Orthanc's REST API, over HTTP, with a token.

A worker of a Dask cluster (runtime.worker.dask_cluster) runs offloaded handlers on
another machine, where there is no ``_orthanc_native`` and no master to ask.
There, runtime.sdk.transport hands every SDK call to a :class:`RemoteOrthanc`,
which turns it into a keep-alive HTTP request to Orthanc's REST API::

    handler --sdk.rest_get / orthanc.RestApiGet--> backend.call --> RemoteOrthanc.call
        --GET /instances/{id}/file, Authorization: <token>--> Orthanc

The token comes from ``OrthancPluginGenerateRestApiAuthorizationToken`` in the
master: it grants full access to the REST API for as long as that Orthanc
runs. It never appears in ``repr``, logs or errors. Logs go to ``log_sink``
(runtime.worker.dask_cluster sends them back to Orthanc's log through Dask's event
channel). What has no REST equivalent raises NotInOrthanc naming the call.

This module knows nothing of Dask: any process with the URL and a token can
use it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from runtime.errors import NotInOrthanc, OrthancError, OrthancException

UNAUTHORIZED = 29  # Orthanc's ErrorCode_Unauthorized
UNKNOWN_RESOURCE = 17
# OrthancPluginHttpMethod, as CallRestApi takes it.
_METHODS = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE"}
# The error an HTTP status stands for when Orthanc gives no details (OrthancFramework's
# Enumerations: ErrorCode and its HTTP status).
_CODE_OF_STATUS = {400: (8, "Bad request"), 403: (29, "Unauthorized"),
                   404: (UNKNOWN_RESOURCE, "Unknown resource"),
                   415: (3000, "Unsupported media type"), 501: (2, "Not implemented"),
                   503: (36, "The database is currently not available")}
_LOG_CALLS = {"LogInfo": "info", "LogWarning": "warning", "LogError": "error"}
_LOOKUPS = {"LookupPatient": "Patient", "LookupStudy": "Study", "LookupSeries": "Series",
            "LookupInstance": "Instance"}

LogSink = Callable[[str, str], None]
"""``sink(level, message)``, level one of ``info``, ``warning``, ``error``."""


class RemoteOrthanc:
    """Orthanc's REST API as the SDK calls of runtime.sdk.transport.

    ``configuration`` is Orthanc's configuration as JSON text,
    ``configuration_path`` and ``version`` what the master's SDK said: a
    worker cannot ask them over REST.
    """

    def __init__(self, url: str, token: str, *, configuration: str = "{}",
                 configuration_path: str = "", version: str = "",
                 log_sink: LogSink | None = None, timeout: float = 300) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL of Orthanc: {url!r}")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self.configuration = configuration
        self.configuration_path = configuration_path
        self.version = version
        self.log_sink = log_sink
        self.timeout = timeout
        self._local = threading.local()  # one keep-alive connection a thread

    def __repr__(self) -> str:
        return f"RemoteOrthanc({self.url!r})"  # never the token

    # -- HTTP --

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout,
                    context=ssl.create_default_context())
            else:
                connection = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def request(self, method: str, uri: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One REST call: (HTTP status, headers, body); raises OSError if Orthanc is unreachable.

        A keep-alive connection that Orthanc closed meanwhile is opened again
        once, for a request that had not reached it (or may safely be sent twice).
        """
        sent = {**(headers or {}), "Authorization": self._token}
        if not uri.startswith("/"):
            uri = "/" + uri
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None) is not None
            connection = self._connection()
            try:
                connection.request(method, self._prefix + uri, body=body or None, headers=sent)
            except (ConnectionError, http.client.HTTPException):
                self._drop_connection()
                if attempt == 1 and reused:
                    continue
                raise
            try:
                answer = connection.getresponse()
                data = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError):
                self._drop_connection()
                if attempt == 1 and reused and method in ("GET", "PUT", "DELETE"):
                    continue
                raise
            except BaseException:
                self._drop_connection()
                raise
            if answer.will_close:
                self._drop_connection()
            return answer.status, {k: v for k, v in answer.getheaders()}, data
        raise AssertionError("unreachable")

    def _checked(self, method: str, uri: str, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> bytes:
        """The body of a successful call; an error raises as the native binding does."""
        status, _, data = self.request(method, uri, body, headers)
        if status >= 400:
            raise self.error(method, uri, status, data)
        return data

    @staticmethod
    def error(method: str, uri: str, status: int, data: bytes) -> OrthancException:
        """The exception for an HTTP error, with Orthanc's error code and description as the
        native binding raises it (``args == (17, "Unknown resource")``), and the status."""
        if status == 401:
            return OrthancError(
                UNAUTHORIZED, f"Orthanc refused this worker's token (HTTP 401 on {method} {uri}): "
                "the Orthanc that issued it restarted, or the worker reaches another Orthanc",
                401)
        try:
            details = json.loads(data)
            return OrthancError(int(details["OrthancStatus"]),
                                str(details.get("OrthancError") or details.get("Message")), status)
        except (ValueError, KeyError, TypeError):
            pass
        # Orthanc answers some errors without a body (an unknown resource: 404).
        code, description = _CODE_OF_STATUS.get(status, (1, "Internal error"))
        return OrthancError(code, description, status)

    # -- the SDK --

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The SDK call ``name`` (runtime.sdk.transport's names, and the ``orthanc`` module's)."""
        method = getattr(self, f"_sdk_{name}", None)
        if method is not None:
            return method(*args, **kwargs)
        if name in _LOG_CALLS:
            return self._log(_LOG_CALLS[name], *args)
        if name in _LOOKUPS:
            return self._lookup(_LOOKUPS[name], *args)
        raise NotInOrthanc(
            f"{name} cannot be called from a worker of the Dask cluster: there it has no plugin, "
            "only Orthanc's REST API (REST calls, GetDicomForInstance, lookups, logs and the "
            "configuration work); call it in a handler that is not offloaded, or use the local "
            "pool")

    def _log(self, level: str, message: Any) -> None:
        if self.log_sink is not None:
            self.log_sink(level, str(message))

    def _lookup(self, level: str, value: str) -> str:
        found = json.loads(self._checked("POST", "/tools/lookup", str(value).encode()))
        for item in found:
            if item.get("Type") == level:
                return str(item["ID"])
        raise OrthancException(UNKNOWN_RESOURCE, "Unknown resource")

    def _sdk_LookupStudyWithAccessionNumber(self, accession_number: str) -> str:
        query = {"Level": "Study", "Query": {"AccessionNumber": accession_number}}
        found = json.loads(self._checked("POST", "/tools/find", json.dumps(query).encode()))
        if not found:
            raise OrthancException(UNKNOWN_RESOURCE, "Unknown resource")
        return str(found[0])

    # The runtime's own (runtime.sdk.transport.RUNTIME_PROXIED).

    def _sdk_orthanc_version(self) -> str:
        return self.version

    # The SDK's calls; after_plugins is moot: a request over HTTP always goes through the
    # plugins' routes.

    def _sdk_RestApiGet(self, uri: str) -> bytes:
        return self._checked("GET", uri)

    _sdk_RestApiGetAfterPlugins = _sdk_RestApiGet

    def _sdk_RestApiGet2(self, uri: str, headers: dict[str, str], after_plugins: bool) -> bytes:
        return self._checked("GET", uri, headers=dict(headers or {}))

    def _sdk_RestApiPost(self, uri: str, body: Any) -> bytes:
        return self._checked("POST", uri, _bytes(body))

    _sdk_RestApiPostAfterPlugins = _sdk_RestApiPost

    def _sdk_RestApiPut(self, uri: str, body: Any) -> bytes:
        return self._checked("PUT", uri, _bytes(body))

    _sdk_RestApiPutAfterPlugins = _sdk_RestApiPut

    def _sdk_RestApiDelete(self, uri: str) -> None:
        self._checked("DELETE", uri)

    _sdk_RestApiDeleteAfterPlugins = _sdk_RestApiDelete

    def _sdk_CallRestApi(self, method: int, uri: str, headers: dict[str, str], body: Any,
                         after_plugins: bool) -> tuple[int, dict[str, str], bytes]:
        if method not in _METHODS:
            raise OrthancException(3, f"unknown HTTP method {method}")
        return self.request(_METHODS[method], uri, _bytes(body), dict(headers or {}))

    def _sdk_GetDicomForInstance(self, instance_id: str) -> bytes:
        return self._checked("GET", f"/instances/{quote(instance_id, safe='')}/file")

    def _sdk_GetConfiguration(self) -> str:
        return self.configuration

    def _sdk_GetConfigurationPath(self) -> str:
        return self.configuration_path

    def _sdk_GenerateUuid(self) -> str:
        return str(uuid.uuid4())


def _bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    return bytes(body)
