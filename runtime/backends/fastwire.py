"""The fast path's frames, and the one place that decides which Orthanc call sends a Response.

The C++ fast path (orthanc_native/src/fast_path.cpp) writes a request frame to a
worker's pipe and reads the answer frame, without Python; this module is the
same format on Python's side (the worker reads requests and writes answers;
tests write both). Every number is a big-endian u32; ``bytes`` is a u32 length
and that many bytes, ``text`` the same in UTF-8::

    request:  descriptor(text) method(text) url(text) request_id(text)
              n, groups(text) * n
              n, (name(text) value(text)) * n          the headers
              n, (name(text) value(text)) * n          the GET arguments
              body(bytes)
    answer:   status(u32) plan(u8) content_type(text) extra(text)
              n, (name(text) value(text)) * n          headers, Content-Type apart
              body(bytes)

Text from a client need not be UTF-8: it is decoded with replacement, as the
Python path does. The pipe's own length word (top bit set: a raw frame, not a
pickle) is pool.channel's.

A worker decodes a request and encodes its answer with the native codec
``orthanc_native._fastwire`` (one call each) when it is built; the Python codec
here is the format's reference, used where it is not, and the tests check that
the two agree.

:func:`plan_of` says how a Response is sent: the fast path executes the plan
in C++, :func:`write_plan` with Orthanc's RestOutput (runtime.callbacks.rest).
"""

from __future__ import annotations

import importlib
import struct
from typing import Any, NamedTuple

from runtime import answers
from runtime.http import Response

PLAN_ANSWER = 0  # RestOutput.answer_buffer(body, content_type)
PLAN_STATUS = 1  # Content-Type header, then send_http_status(status, body)
PLAN_NO_BODY = 2  # send_http_status(status, b"") (Orthanc would send a body it is given)
PLAN_NOT_ALLOWED = 3  # send_method_not_allowed(extra: the Allow header)
PLAN_UNAUTHORIZED = 4  # send_unauthorized(extra: the realm)
PLAN_REDIRECT = 5  # redirect(extra: the Location)

_U32 = struct.Struct("!I")
_ANSWER_HEAD = struct.Struct("!IB")


class Plan(NamedTuple):
    """Which Orthanc call sends an answer, with what (the headers set before it)."""

    kind: int
    status: int
    content_type: str
    extra: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def plan_of(response: Response) -> Plan:
    """How Orthanc sends ``response``: it has a call of its own for 200, 405, 401 and 301, no
    body for 204, 205 and 304. The caller checks the response first (answers.refusal)."""
    status = response.status
    headers = tuple((k, v) for k, v in response.headers.items()
                    if k.lower() not in ("content-type", "content-length"))
    kind, extra, body = PLAN_STATUS, "", response.body
    if status == 200:
        kind = PLAN_ANSWER
    elif status == 405:
        kind, extra, body = PLAN_NOT_ALLOWED, response.headers.get("Allow", ""), b""
    elif status == 401:
        kind, extra, body = (PLAN_UNAUTHORIZED,
                             response.headers.get("WWW-Authenticate", "orthanc-runtime"), b"")
    elif status == 301:
        kind, extra, body = PLAN_REDIRECT, response.headers.get("Location", "/"), b""
    elif status in answers.NO_BODY_STATUSES:
        kind, body = PLAN_NO_BODY, b""
    return Plan(kind, status, response.content_type, extra, headers, body)


def write_plan(output: Any, plan: Plan) -> None:
    """Executes ``plan`` with Orthanc's RestOutput (what fast_path.cpp does without Python)."""
    for key, value in plan.headers:
        output.set_http_header(key, value)
    kind = plan.kind
    if kind == PLAN_ANSWER:
        output.answer_buffer(plan.body, plan.content_type)
    elif kind == PLAN_NOT_ALLOWED:
        output.send_method_not_allowed(plan.extra)
    elif kind == PLAN_UNAUTHORIZED:
        output.send_unauthorized(plan.extra)
    elif kind == PLAN_REDIRECT:
        output.redirect(plan.extra)
    elif kind == PLAN_NO_BODY:
        output.send_http_status(plan.status, b"")
    else:
        output.set_http_header("Content-Type", plan.content_type)
        output.send_http_status(plan.status, plan.body)


# -- frames ------------------------------------------------------------------------------

def _put(parts: list[bytes], data: bytes) -> None:
    parts.append(_U32.pack(len(data)))
    parts.append(data)


def _put_pairs(parts: list[bytes], pairs: Any) -> None:
    pairs = list(pairs)
    parts.append(_U32.pack(len(pairs)))
    for key, value in pairs:
        _put(parts, key.encode())
        _put(parts, value.encode())


def _native_codec() -> Any:
    try:
        return importlib.import_module("orthanc_native._fastwire")
    except ImportError:
        return None


_native = _native_codec()


def encode_answer(plan: Plan, more_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The answer frame of ``plan``, with ``more_headers`` after its own."""
    if _native is not None:
        return _native.encode_answer(  # type: ignore[no-any-return]
            plan.status, plan.kind, plan.content_type, plan.extra, plan.headers, plan.body,
            more_headers)
    return py_encode_answer(plan, more_headers)


def py_encode_answer(plan: Plan, more_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """:func:`encode_answer` in Python (the reference of the native codec)."""
    parts = [_ANSWER_HEAD.pack(plan.status, plan.kind)]
    _put(parts, plan.content_type.encode())
    _put(parts, plan.extra.encode())
    _put_pairs(parts, plan.headers + more_headers if more_headers else plan.headers)
    _put(parts, plan.body)
    return b"".join(parts)


def encode_request(descriptor: str, method: str, url: str, groups: tuple[str, ...],
                   headers: dict[str, str], get: dict[str, str], body: bytes,
                   request_id: str = "") -> bytes:
    """What fast_path.cpp writes (for tests, and a Python peer of the format)."""
    parts: list[bytes] = []
    _put(parts, descriptor.encode())
    _put(parts, method.encode())
    _put(parts, url.encode())
    _put(parts, request_id.encode())
    parts.append(_U32.pack(len(groups)))
    for group in groups:
        _put(parts, group.encode())
    _put_pairs(parts, headers.items())
    _put_pairs(parts, get.items())
    _put(parts, body)
    return b"".join(parts)


class _Reader:
    __slots__ = ("data", "at")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def u32(self) -> int:
        at = self.at
        if at + 4 > len(self.data):
            raise ValueError("a fast frame is cut short")
        self.at = at + 4
        return _U32.unpack_from(self.data, at)[0]  # type: ignore[no-any-return]

    def raw(self) -> bytes:
        size = self.u32()
        at = self.at
        if at + size > len(self.data):
            raise ValueError("a fast frame is cut short")
        self.at = at + size
        return self.data[at:at + size]

    def text(self) -> str:
        return self.raw().decode("utf-8", "replace")

    def pairs(self) -> dict[str, str]:
        return {self.text(): self.text() for _ in range(self.u32())}

    def pair_list(self) -> tuple[tuple[str, str], ...]:
        return tuple((self.text(), self.text()) for _ in range(self.u32()))


class FastRequest(NamedTuple):
    descriptor: str
    method: str
    url: str
    groups: tuple[str, ...]
    headers: dict[str, str]
    get: dict[str, str]
    body: bytes
    request_id: str = ""


_tuple_new = tuple.__new__


def decode_request(data: bytes) -> FastRequest:
    """A request frame's fields; ValueError if it is cut short or has bytes after its body."""
    if _native is not None:
        return _tuple_new(FastRequest, _native.decode_request(data))  # type: ignore[no-any-return]
    return py_decode_request(data)


def py_decode_request(data: bytes) -> FastRequest:
    """:func:`decode_request` in Python (the reference of the native codec)."""
    reader = _Reader(data)
    descriptor, method, url, request_id = reader.text(), reader.text(), reader.text(), reader.text()
    groups = tuple(reader.text() for _ in range(reader.u32()))
    headers = reader.pairs()
    get = reader.pairs()
    body = reader.raw()
    if reader.at != len(data):
        raise ValueError("a fast request frame has bytes after its body")
    return FastRequest(descriptor, method, url, groups, headers, get, body, request_id)


def decode_answer(data: bytes) -> Plan:
    status, kind = _ANSWER_HEAD.unpack_from(data, 0)
    reader = _Reader(data)
    reader.at = _ANSWER_HEAD.size
    content_type, extra = reader.text(), reader.text()
    headers = reader.pair_list()  # a name may come twice (Set-Cookie)
    body = reader.raw()
    return Plan(kind, status, content_type, extra, headers, body)
