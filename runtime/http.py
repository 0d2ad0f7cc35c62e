"""What crosses the process boundary for a REST call: the request, the answer, HTTP errors.

A route handler takes a :class:`Request` and returns a :class:`Response` (or a
shorthand that :func:`to_response` turns into one: ``bytes``, ``str``, ``dict``
or ``list``). Both are small, plain and picklable, because an offloaded
handler runs in a worker process: the master builds the ``Request`` from what
Orthanc gives its REST callback, the worker runs the handler, and the master
writes the ``Response`` to Orthanc's ``RestOutput``.

A handler answers an error by raising an :class:`HTTPError`
(``raise NotFound("no such series")``); the dispatcher turns it, like any
other failure, into the JSON body made by :func:`error_response`.

    >>> Response({"id": 1}).body
    b'{"id":1}'
    >>> Headers({"Content-Type": "text/plain"})["content-type"]
    'text/plain'
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = [
    "BadRequest",
    "HTTPError",
    "Headers",
    "MethodNotAllowed",
    "NotFound",
    "Request",
    "Response",
    "StreamingResponse",
    "UnsupportedReturn",
    "error_response",
    "to_response",
]


class Headers(Mapping[str, str]):
    """HTTP headers: a read-only mapping whose names are case-insensitive.

        >>> headers = Headers([("Accept", "text/html"), ("accept", "image/png")])
        >>> headers["ACCEPT"], headers.getlist("accept")
        ('text/html', ['text/html', 'image/png'])

    Built from a mapping or from ``(name, value)`` pairs; a name given more than
    once keeps every value (:meth:`getlist`) and looks up to the first one.
    Names keep the spelling they were given.
    """

    __slots__ = ("_pairs", "_first")

    def __init__(self, source: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = source.items() if isinstance(source, Mapping) else source
        pairs = tuple((name, value) for name, value in items)
        for name, value in pairs:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(
                    f"header names and values are str, not {type(name).__name__}: "
                    f"{type(value).__name__} ({name!r})"
                )
        self._pairs = pairs
        self._first: dict[str, tuple[str, str]] | None = None

    @classmethod
    def from_orthanc(cls, headers: dict[str, str]) -> Headers:
        """The headers as Orthanc hands them (a dict of str): no checks, indexed on first use."""
        self = cls.__new__(cls)
        self._pairs = tuple(headers.items())
        self._first = None
        return self

    def _index(self) -> dict[str, tuple[str, str]]:
        first = self._first
        if first is None:
            first = {}
            for name, value in self._pairs:
                first.setdefault(name.lower(), (name, value))
            self._first = first
        return first

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._index()[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index()

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._index().values())

    def __len__(self) -> int:
        return len(self._index())

    def getlist(self, name: str) -> list[str]:
        """Every value given for ``name``, in order."""
        wanted = name.lower()
        return [value for key, value in self._pairs if key.lower() == wanted]

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every ``(name, value)``, repeated names included, as given."""
        return self._pairs

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return _canonical(self._pairs) == _canonical(other._pairs)
        if isinstance(other, Mapping):
            try:
                return _canonical(self._pairs) == _canonical(Headers(other)._pairs)
            except TypeError:
                return False
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if len(self._pairs) == len(self._index()):
            return f"Headers({dict(self._pairs)!r})"
        return f"Headers({list(self._pairs)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (self._pairs,))


def _canonical(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    # The order of different names does not matter; that of one name's values does.
    return sorted(((name.lower(), value) for name, value in pairs), key=lambda pair: pair[0])


@dataclass(slots=True)
class Request:
    """A REST request, as a route handler sees it.

    ``params`` are the template's parameters, converted (``{"index": 3}``);
    ``groups`` every group of the route's regex as a string, as Orthanc gives
    them; ``query`` the GET arguments; ``route`` the pattern that matched, as
    written.
    """

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    query: dict[str, str] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    route: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        if not isinstance(self.body, bytes):
            self.body = bytes(self.body)
        self.groups = tuple(self.groups)

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain values, rebuilt without __init__: a request crosses to a worker on every
        # offloaded call, and the dataclass's own pickling costs several times this.
        return (rebuild_request, (self.method, self.path, self.params, self.groups,
                                   self.query, self.headers._pairs, self.body, self.route))

    def json(self) -> Any:
        """The body parsed as UTF-8 JSON; :class:`BadRequest` if it is not."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise BadRequest(f"request body is not valid JSON: {error}") from None


def rebuild_request(method: str, path: str, params: dict[str, Any], groups: tuple[str, ...],
                    query: dict[str, str], headers: tuple[tuple[str, str], ...], body: bytes,
                    route: str) -> Request:
    """A Request from values already checked (unpickled, or given by Orthanc), without
    ``__init__``'s checks: the hot paths' way to make one."""
    request = Request.__new__(Request)
    request.method, request.path, request.params, request.groups = method, path, params, groups
    request.query, request.body, request.route = query, body, route
    rebuilt = Headers.__new__(Headers)
    rebuilt._pairs, rebuilt._first = headers, None
    request.headers = rebuilt
    return request


_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_BINARY = "application/octet-stream"


_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""One encoder for every answer: ``json.dumps`` with these options builds a new one each call."""


def _json_bytes(value: Any) -> bytes:
    return _JSON_ENCODER.encode(value).encode()


class Response:
    """The answer to a REST request.

        >>> Response("hello").content_type
        'text/plain; charset=utf-8'
        >>> Response(b"\\x89PNG", content_type="image/png").status
        200

    ``body`` may be ``bytes`` (sent as ``application/octet-stream`` unless
    ``content_type`` says otherwise), ``str`` (UTF-8, ``text/plain``), or a
    ``dict`` or ``list`` (compact JSON, ``application/json``). A
    ``Content-Type`` in ``headers`` stands for ``content_type`` when that is not
    given; either way it is kept in ``content_type``, not in ``headers``.
    """

    __slots__ = ("body", "status", "content_type", "headers")

    body: bytes
    status: int
    content_type: str
    headers: dict[str, str]

    def __init__(
        self,
        body: bytes | bytearray | memoryview | str | dict[str, Any] | list[Any] = b"",
        status: int = 200,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"status is an int, not {type(status).__name__}")
        if not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status (100-599)")
        extra = {}
        for name, value in (headers or {}).items():
            if name.lower() == "content-type":
                content_type = content_type or value
            else:
                extra[name] = value
        if isinstance(body, str):
            data, default_type = body.encode("utf-8"), _TEXT
        elif isinstance(body, bytes | bytearray | memoryview):
            data, default_type = bytes(body), _BINARY
        elif isinstance(body, dict | list):
            data, default_type = _json_bytes(body), _JSON
        else:
            raise TypeError(
                f"a Response body is bytes, str, dict or list, not {type(body).__name__}"
            )
        self.body = data
        self.status = status
        self.content_type = content_type or default_type
        self.headers = extra

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.content_type, self.headers, self.body) == (
            other.status,
            other.content_type,
            other.headers,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = (
            repr(self.body)
            if len(self.body) <= 60
            else f"{self.body[:60]!r}... ({len(self.body)} bytes)"
        )
        headers = f", headers={self.headers!r}" if self.headers else ""
        return (
            f"Response({body}, status={self.status}, content_type={self.content_type!r}{headers})"
        )

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # A large body leaves the pickle as an out-of-band buffer (protocol 5): the pool
        # moves it through shared memory, a Dask worker sends it as a frame of its own, and
        # the Response crosses whole, never taken apart and rebuilt by the caller.
        body: Any = self.body
        if isinstance(protocol, int) and protocol >= 5 and len(body) >= OUT_OF_BAND_BODY:
            body = pickle.PickleBuffer(body)
        return (_rebuild_response, (body, self.status, self.content_type, self.headers))


OUT_OF_BAND_BODY = 64 << 10
"""Bodies of this many bytes or more pickle as out-of-band buffers; smaller ones are cheaper
copied into the pickle."""


def _rebuild_response(body: Any, status: int, content_type: str,
                      headers: dict[str, str]) -> Response:
    """A Response from its pickled parts, checked when it was made: bytes as they are, an
    out-of-band buffer (a memoryview, a PickleBuffer) copied once."""
    response = Response.__new__(Response)
    response.body = body if type(body) is bytes else bytes(memoryview(body))
    response.status, response.content_type, response.headers = status, content_type, headers
    return response


class StreamingResponse:
    """An answer sent chunk by chunk, as ``chunks`` (an iterable of ``bytes`` or ``str``)
    yields them: what a handler's generator becomes.

        >>> def numbers():
        ...     yield "1\\n"
        ...     yield b"2\\n"
        >>> StreamingResponse(numbers(), content_type="text/plain").joined().body
        b'1\\n2\\n'

    Orthanc 1.12.6 and newer send each chunk as it comes (with no length:
    Orthanc closes the connection at the end), from a pool worker too
    (``@offload``: runtime.backends.streams); on an older Orthanc, and from a Dask
    worker, the chunks are joined and sent as one answer. The
    status is 200: an error raised before the first chunk answers JSON as usual;
    one raised later cuts the answer short (the log names the handler). A str
    chunk is sent as UTF-8.
    """

    __slots__ = ("chunks", "content_type", "headers")

    status = 200

    def __init__(self, chunks: Iterable[bytes | bytearray | memoryview | str],
                 content_type: str = _BINARY, headers: Mapping[str, str] | None = None) -> None:
        self.chunks = chunks
        self.content_type = content_type
        self.headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}

    def joined(self) -> Response:
        """The whole answer at once."""
        return Response(b"".join(chunk_bytes(c) for c in self.chunks), 200, self.content_type,
                        self.headers)


def chunk_bytes(chunk: object) -> bytes:
    """One chunk of a streamed answer as bytes; anything but bytes or str is an UnsupportedReturn."""
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    raise UnsupportedReturn(f"handler streamed a chunk of type {type(chunk).__name__}; "
                            "a chunk is bytes or str")


class HTTPError(Exception):
    """Raised by a handler to answer an HTTP error.

        >>> raise HTTPError(409, "already being processed", retry_after=5)
        Traceback (most recent call last):
        ...
        runtime.http.HTTPError: already being processed

    ``headers`` go with the answer; ``extra`` are further members of its JSON
    body. Without a message, the status's reason phrase is used.
    """

    status: int
    message: str
    headers: dict[str, str]
    extra: dict[str, Any]

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        message = message or _phrase(status)
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than HTTPError itself: rebuild from the
        # attributes, whatever __init__ looks like.
        return (_rebuild_error, (type(self), self.__dict__.copy()))


def _rebuild_error(kind: type[HTTPError], state: dict[str, Any]) -> HTTPError:
    error = kind.__new__(kind)
    Exception.__init__(error, state["message"])
    error.__dict__.update(state)
    return error


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP error {status}"


class BadRequest(HTTPError):
    """400: the request cannot be understood (bad JSON, a missing field...)."""

    def __init__(
        self, message: str = "", *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(400, message, headers=headers, **extra)


class NotFound(HTTPError):
    """404: what the request names does not exist."""

    def __init__(
        self, message: str = "", *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(404, message, headers=headers, **extra)


class MethodNotAllowed(HTTPError):
    """405: the route exists, but not for this method; ``Allow`` lists the methods it has."""

    allowed: list[str]

    def __init__(
        self,
        allowed: Iterable[str],
        message: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        methods = list(allowed)
        listed = ", ".join(methods)
        super().__init__(
            405,
            message or f"method not allowed; allowed: {listed}",
            headers={**(headers or {}), "Allow": listed},
            **extra,
        )
        self.allowed = methods


class UnsupportedReturn(TypeError):
    """A handler returned something that is not an answer; the message names its type."""


def to_response(value: object) -> Response | StreamingResponse:
    """The :class:`Response` for what a handler returned.

    A ``Response`` or ``StreamingResponse`` passes through; ``bytes`` (or
    ``bytearray``, ``memoryview``), ``str``, ``dict`` and ``list`` are shorthand
    for ``Response(value)``; a generator (any iterator) of ``bytes`` or ``str``
    for ``StreamingResponse(value)``. Anything else, ``None`` included, is an
    :class:`UnsupportedReturn` (a ``TypeError``) that names it.
    """
    if isinstance(value, Response | StreamingResponse):
        return value
    if isinstance(value, bytes | bytearray | memoryview | str | dict | list):
        return Response(value)
    if isinstance(value, Iterator):
        return StreamingResponse(value)
    raise UnsupportedReturn(
        f"handler returned {type(value).__name__}; return a Response, bytes, str, dict, list "
        "or a generator of bytes"
    )


def error_response(
    status: int,
    message: str,
    *,
    route: str = "",
    type_name: str = "",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The JSON answer for an error.

        >>> error_response(404, "no such series", route="/series/{id}").body
        b'{"error":"no such series","status":404,"route":"/series/{id}"}'

    ``route`` and ``type_name`` (the exception's class) are left out when empty;
    ``extra`` adds members.
    """
    body: dict[str, Any] = {"error": message, "status": status}
    if route:
        body["route"] = route
    if type_name:
        body["type"] = type_name
    body.update(extra)
    return Response(body, status=status, headers=headers)
