"""What a client may receive, and what it receives when a handler fails.

Two concerns meet here, both about the last step before Orthanc's RestOutput:

* **What Orthanc can send.** Orthanc writes an answer only with a status its
  own enumeration names, and header lines as they are given. A status it does
  not know makes it log "Parameter out of range" and drop the answer (the SDK
  call returns nothing we could check), and a CR or LF in a header would
  split it into lines the client reads as further headers. So every answer is
  checked here first: :func:`refusal` says what Orthanc cannot send, and the
  dispatcher answers 500 JSON naming it instead.

* **What a failure tells the client.** :func:`error_to_response` turns any
  exception a handler raises, ``BaseException`` included, into JSON, through
  one table looked up along the error's class hierarchy (:func:`answer_errors`
  adds a row; each offload backend adds those of its own errors). Errors
  meant for the client (``HTTPError``, ``OrthancError``, a full pool) keep
  their message; anything else answers a generic message and an error id,
  and the traceback goes to Orthanc's log under that id. Paths, process ids
  and shared-memory names stay in the log.
"""

from __future__ import annotations

import re
import secrets
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from runtime.errors import HandlerAborted, NotInOrthanc, OrthancException, http_status_of
from runtime.handler_stats import RecentErrors
from runtime.http import HTTPError, Response, UnsupportedReturn, error_response
from runtime.sdk import logs

# The statuses Orthanc 1.10.1 sends through OrthancPluginSendHttpStatus: those
# its EnumerationToString(HttpStatus) names (OrthancFramework/Sources/
# Enumerations.cpp; any other throws ParameterOutOfRange while the answer is
# written, and the client gets nothing), less 301 and 405, which
# HttpOutput::SendStatus refuses ("use the dedicated methods"): the dispatcher
# sends those two, and 401, through OrthancPluginRedirect,
# SendMethodNotAllowed and SendUnauthorized. Checked against the binary by
# tests/integration/test_answers.py, which asks for every status in 100-599.
#
# 1xx are left out although Orthanc writes them: a 1xx is an interim answer
# (RFC 9110, 15.2), so a client reads past it and waits for a final one that
# never comes.
ORTHANC_STATUSES = frozenset(
    {200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
     300, 301, 302, 303, 304, 305, 307,
     400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
     422, 423, 424, 426,
     500, 501, 502, 503, 504, 505, 506, 507, 509, 510}
)

NO_BODY_STATUSES = frozenset({204, 205, 304})
"""Answers that carry no body (RFC 9110): their body, if any, is not sent."""

_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


# Orthanc's SendHttpStatus refuses these two: each has a call of its own.
_DEDICATED_CALLS = {301: "Redirect", 405: "SendMethodNotAllowed"}


def unsendable_status(status: int, *, send_status_only: bool = False) -> str | None:
    """Why Orthanc cannot answer ``status``, or None if it can.

    ``send_status_only``: the answer goes through SendHttpStatus (the
    ``orthanc`` module's RestOutput), which cannot send 301 and 405.
    """
    if send_status_only and status in _DEDICATED_CALLS:
        return (f"Orthanc sends HTTP {status} only through RestOutput."
                f"{_DEDICATED_CALLS[status]}(), not SendHttpStatus()")
    if status in ORTHANC_STATUSES:
        return None
    if 100 <= status <= 199:
        return (f"the handler answered HTTP {status}, an interim status that is never a final "
                "answer")
    return f"Orthanc cannot answer HTTP status {status} (Orthanc 1.10.1 does not know it)"


_UNSAFE_IN_HEADERS = re.compile("[\r\n\0]")


unsafe_text = _UNSAFE_IN_HEADERS.search
"""A match (true) if a text that goes into a header line holds CR, LF or NUL, else None."""


def unsafe_header(name: str, value: str) -> bool:
    """True if a header name or value holds CR, LF or NUL (it would split the header)."""
    return _UNSAFE_IN_HEADERS.search(name) is not None or \
        _UNSAFE_IN_HEADERS.search(value) is not None


def refusal(response: Response) -> Response | None:
    """The 500 JSON that stands for ``response`` when Orthanc cannot send it, else None."""
    if _UNSAFE_IN_HEADERS.search(response.content_type) is not None:
        return header_refusal("Content-Type")
    headers: Mapping[str, str] = response.headers
    for name, value in headers.items():
        if unsafe_header(name, value):
            return header_refusal(name)
    reason = unsendable_status(response.status)
    if reason is not None:
        return error_response(500, reason, type_name="UnsupportedStatus",
                              refused_status=response.status)
    return None


def header_refusal(name: str) -> Response:
    """500 JSON naming the refused header; neither its value nor a bad name's rest is echoed."""
    cuts = [name.index(c) for c in _FORBIDDEN_IN_HEADERS if c in name]
    shown = f"{name[:min(cuts)]}..." if cuts else name
    return error_response(
        500, f"the handler's answer has a header with CR, LF or NUL in its name or value: {shown}",
        type_name="UnsafeHeader", header=shown)


# -- failures -----------------------------------------------------------------

def new_error_id() -> str:
    """A short random id that ties a client's error to its log line."""
    return secrets.token_hex(6)


def log_error(message: str) -> None:
    logs.write("error", message)


def log_info(message: str) -> None:
    """For what works as meant but an operator may look for: a gate's refusal, say."""
    logs.write("info", message)


def safe_str(error: BaseException) -> str:
    """``str(error)``, or a placeholder when its ``__str__`` raises."""
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__}: str() failed>"


_recent: RecentErrors | None = None


def keep_errors_in(recent: RecentErrors | None) -> None:
    """Where handler errors are noted (the session's RecentErrors, for its status), or None."""
    global _recent
    _recent = recent


def note_error(where: str, type_name: str, message: str, error_id: str) -> None:
    """Notes a handler's error, logged under ``error_id``, for the operator page."""
    recent = _recent
    if recent is not None:
        recent.add(error_id, where, type_name, message)


def log_exception(where: str, error: BaseException, error_id: str) -> None:
    try:
        text = "".join(traceback.format_exception(error)).rstrip()
    except Exception:
        text = "(no traceback: formatting it failed)"
    message = safe_str(error)
    note_error(where, type(error).__name__, message, error_id)
    log_error(f"{where}: {type(error).__name__} [error id {error_id}]: {message}\n{text}")


ErrorAnswer = Callable[[Any, str, str], Response]
"""A row of the table: ``(error, where, route)`` to the answer; it logs what it hides."""

_ROWS: dict[type[BaseException], ErrorAnswer] = {}


def answer_errors(*kinds: type[BaseException]) -> Callable[[ErrorAnswer], ErrorAnswer]:
    """Adds a row to the table of error answers: ``kinds`` (and their subclasses, unless a
    row names them) answer what the decorated function returns.

    The table is looked up along the error's class hierarchy, most specific first, so a
    backend adds rows for its own errors where it defines them (the local pool's in
    runtime.backends.executor, a cluster's in runtime.backends.protocol) and this module
    knows none of them."""
    def add(row: ErrorAnswer) -> ErrorAnswer:
        for kind in kinds:
            _ROWS[kind] = row
        return row
    return add


def error_to_response(error: BaseException, where: str, route: str) -> Response:
    """The JSON answer for any exception raised while handling a request; logs what it hides."""
    for kind in type(error).__mro__:
        row = _ROWS.get(kind)
        if row is not None:
            return row(error, where, route)
    raise AssertionError("BaseException has a row")  # pragma: no cover


@answer_errors(HTTPError)
def _http_error(error: HTTPError, where: str, route: str) -> Response:
    return error_response(error.status, error.message, route=route, type_name=type(error).__name__,
                          headers=error.headers, **error.extra)


@answer_errors(OrthancException)
def _orthanc_exception(error: OrthancException, where: str, route: str) -> Response:
    status = http_status_of(error)
    kind = type(error).__name__
    if status >= 500:
        error_id = new_error_id()
        log_exception(where, error, error_id)
        return error_response(status, error.message, route=route, type_name=kind,
                              orthanc_code=error.code, error_id=error_id)
    return error_response(status, error.message, route=route, type_name=kind,
                          orthanc_code=error.code)


@answer_errors(UnsupportedReturn, NotInOrthanc)
def _runtime_message(error: BaseException, where: str, route: str) -> Response:
    # The runtime's own messages, written for the script's author: they name a type or an
    # SDK function, nothing of the machine.
    error_id = new_error_id()
    log_exception(where, error, error_id)
    return error_response(500, str(error), route=route, type_name=type(error).__name__,
                          error_id=error_id)


@answer_errors(BaseException)
def _internal_error(error: BaseException, where: str, route: str) -> Response:
    """Anything else: a generic message and an error id; the traceback goes to the log."""
    error_id = new_error_id()
    log_exception(where, error, error_id)
    kind = error.type_name if isinstance(error, HandlerAborted) else type(error).__name__
    return error_response(
        500, f"internal error in the handler; see Orthanc's log, error id {error_id}",
        route=route, type_name=kind, error_id=error_id)
