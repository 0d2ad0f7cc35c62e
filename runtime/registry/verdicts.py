"""What a gate or a DICOM handler may answer, checked where the handler runs.

The general rule: a handler's answer is checked against the type its
decorator documents, and anything else fails closed (the request or the
instance is refused, the DICOM client gets a failure status) with one log
line naming the handler and what it answered. ``"no"`` is not ``True``,
``0xB000`` (a DICOM warning, which tells the modality "stored") is not a
refusal, and a coroutine is not an answer.

    the service's dispatcher (runtime.callbacks.gates, runtime.callbacks.dicom)
        --entry.invoke(...)--> shape(handler(request), request)  (runtime.registry.invoke)
            inline: on Orthanc's thread;  @offload: in a worker, so that what
            crosses back is already checked (a coroutine never has to pickle)
        shape raises WrongAnswer --> the dispatcher refuses and logs
            "<handler> (<what>) answered <type>, not <expected>"

One checker per kind of answer lives here: :func:`http_verdict` (HTTP
filters), :func:`cstore_status` (C-STORE filters); runtime.callbacks.dicom keeps those of
its answers (DICOM files, ids to move, commitment reasons), which raise
:class:`WrongAnswer` as well.
"""

from __future__ import annotations

import inspect
from typing import Any


class WrongAnswer(TypeError):
    """A handler answered something its documented type does not allow.

    The message says what was answered and what was expected, in words that
    complete "<handler> (<what>) ...": it is the whole log line's cause.
    """


def type_of(answer: Any) -> str:
    """The name of an answer's type, as the log shows it."""
    return type(answer).__name__


def refuse_coroutine(answer: Any) -> None:
    """Raises WrongAnswer for a coroutine (closed first: it is never awaited, and Python
    would warn about it at exit); any other answer goes through."""
    if inspect.iscoroutine(answer) or inspect.isasyncgen(answer) or inspect.isawaitable(answer):
        close = getattr(answer, "close", None)
        if callable(close):
            close()
        raise WrongAnswer(f"answered a {type_of(answer)}: the handler is an async def (or "
                          "returned an awaitable); Orthanc's callbacks are synchronous, so "
                          "write it as a plain def")


# -- HTTP filters -------------------------------------------------------------------

def http_verdict(answer: Any, request: Any = None) -> bool:
    """An HTTP filter's answer: True lets the request through, False refuses it.

    Only the two booleans are answers (``@http_filter`` and the official
    plugin's ``RegisterIncomingHttpRequestFilter`` alike): ``1``, ``"yes"``,
    ``{"allowed": True}`` or a coroutine raise WrongAnswer, and the request is
    refused.
    """
    refuse_coroutine(answer)
    if answer is True or answer is False:
        return answer
    raise WrongAnswer(f"answered {type_of(answer)} {_shown(answer)}, not True or False")


def _shown(answer: Any) -> str:
    try:
        text = repr(answer)
    except Exception:
        return "(its repr() failed)"
    return text if len(text) <= 60 else f"{text[:57]}..."


# -- C-STORE filters ------------------------------------------------------------------

STORE = 0
REFUSED = 0x0124  # DIMSE "Refused: Not authorized", what a filter answering False sends
PROCESSING_FAILURE = 0x0110  # what a filter that failed, or answered wrongly, sends

# The statuses that tell a C-STORE client its instance was NOT stored: the
# failure statuses of the Storage Service Class (PS3.4 B.2.3: "Refused: Out of
# Resources" A7xx, "Error: Data Set Does Not Match SOP Class" A9xx, "Error:
# Cannot Understand" Cxxx) and the failures of PS3.7 Annex C that a C-STORE
# response may carry. Not in it: Success (0000), the warnings (0001, 0107,
# 0116, B000, B006, B007: to the modality, the instance was stored), Cancel
# (FE00) and Pending (FF00, FF01), which are not final answers.
_GENERAL_FAILURES = frozenset({
    0x0105,  # no such attribute
    0x0106,  # invalid attribute value
    0x0110,  # processing failure
    0x0111,  # duplicate SOP instance
    0x0117,  # invalid object instance
    0x0118,  # no such SOP class
    0x0119,  # class / instance conflict
    0x0120,  # missing attribute
    0x0121,  # missing attribute value
    0x0122,  # refused: SOP class not supported
    0x0124,  # refused: not authorized
    0x0210,  # duplicate invocation
    0x0211,  # unrecognized operation
    0x0212,  # mistyped argument
    0x0213,  # resource limitation
})


def is_refusal(status: int) -> bool:
    """True if DICOM defines ``status`` as a failure of a C-STORE: the instance was not stored."""
    return status in _GENERAL_FAILURES or (status >> 8) in (0xA7, 0xA9) or (status >> 12) == 0xC


def cstore_status(answer: Any, request: Any = None, style: str = "runtime") -> int:
    """A C-STORE filter's answer as the status Orthanc acts on: 0 stores the instance, any
    other value is the refusal the modality receives.

    ``@cstore_filter``: True stores; False refuses (0x0124); an int that DICOM defines as a
    C-STORE failure refuses with that status. The official plugin's filter answers an int:
    0 stores, a failure status refuses (True and False mean the same as above). Anything
    else raises WrongAnswer: a warning would tell the modality "stored" for an instance that
    is not, a pending status is no final answer.
    """
    refuse_coroutine(answer)
    if answer is True:
        return STORE
    if answer is False:
        return REFUSED
    if isinstance(answer, int):
        status = int(answer)
        if style == "compat" and status == STORE:
            return STORE
        if 0 <= status <= 0xFFFF and is_refusal(status):
            return status
        if style == "compat":
            expected = "0 (store), or a DIMSE failure status (0xA7xx, 0xA9xx, 0xCxxx, 0x01xx)"
        else:
            expected = "True, False or a DIMSE failure status (0xA7xx, 0xA9xx, 0xCxxx, 0x01xx)"
        raise WrongAnswer(f"answered {_status_text(status)}, not {expected}")
    raise WrongAnswer(f"answered {type_of(answer)} {_shown(answer)}, not True, False or a DIMSE "
                      "failure status")


def _status_text(status: int) -> str:
    if not 0 <= status <= 0xFFFF:
        return f"{status}, out of the range of DIMSE statuses"
    if status == 0:
        return "0 (Success; @cstore_filter accepts with True)"
    if status in (0xFF00, 0xFF01):
        return f"0x{status:04X} (Pending, not a final status)"
    if status == 0xFE00:
        return "0xFE00 (Cancel)"
    if status in (0x0001, 0x0107, 0x0116) or (status >> 12) == 0xB:
        return f"0x{status:04X} (a Warning: the modality would read it as stored)"
    return f"0x{status:04X} (not a failure status DICOM defines for C-STORE)"
