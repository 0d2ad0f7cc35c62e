"""Gates and DICOM handlers that answer what they should not (tests/integration/test_fail_closed.py).

Each answer of ANSWERS is asked for by name: an HTTP filter reads it from the
query (``?inline=`` for the filter in Orthanc's thread, ``?offloaded=`` for the
one in a worker), the C-STORE filter from the PatientID (``ANS-<name>``). With
``"FailClosedOffloaded": true`` the C-STORE filter and the DICOM services run
in workers.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from runtime import (
    FilterRequest,
    IncomingInstance,
    MoveRequest,
    WorklistRequest,
    cstore_filter,
    http_filter,
    offload,
    on_move,
    on_worklist,
    route,
    sdk,
)

OFFLOADED = bool(sdk.configuration().get("FailClosedOffloaded"))


async def _never_awaited() -> bool:
    return False


def answer(name: str) -> Any:
    """The answer called ``name``; made afresh, as a coroutine cannot be answered twice."""
    if name == "coroutine":
        return _never_awaited()
    return ANSWERS[name]


ANSWERS: dict[str, Any] = {
    "True": True, "False": False, "no": "no", "yes": "yes", "empty": "", "1": 1, "0": 0,
    "1.0": 1.0, "0.0": 0.0, "None": None, "allowed-false": {"allowed": False}, "list": [False],
    "0xB000": 0xB000, "0xB006": 0xB006, "0xB007": 0xB007, "0x0107": 0x0107, "0x0001": 0x0001,
    "0xFF00": 0xFF00, "0xFF01": 0xFF01, "0xFE00": 0xFE00, "0x10000": 0x10000, "-1": -1,
    "0xA700": 0xA700, "0xA900": 0xA900, "0xC000": 0xC000, "0x0122": 0x0122,
    "0x0124": 0x0124, "0x0110": 0x0110, "0x0211": 0x0211, "coroutine": None,
}


@http_filter
def inline_gate(request: FilterRequest) -> Any:
    wanted = request.query.get("inline")
    return True if wanted is None else answer(wanted)


@http_filter
@offload(timeout=10)
def offloaded_gate(request: FilterRequest) -> Any:
    wanted = request.query.get("offloaded")
    return True if wanted is None else answer(wanted)


@route("/fail-closed/secret")
def secret(request: Any) -> dict[str, Any]:
    return {"secret": 42}


def maybe_offloaded(handler: Any) -> Any:
    return offload(timeout=10)(handler) if OFFLOADED else handler


@cstore_filter
@maybe_offloaded
def cstore_gate(instance: IncomingInstance) -> Any:
    patient = str(instance.dataset().PatientID)
    return answer(patient[len("ANS-"):]) if patient.startswith("ANS-") else True


@on_worklist
@maybe_offloaded
def worklist(request: WorklistRequest) -> list[Any]:
    if str(request.dataset().get("PatientID", "")) == "BYTES":
        return [b"these bytes are not a DICOM file"]
    item = Dataset()
    item.PatientID = "W1"
    item.PatientName = "DOE^JOHN"
    return [item]


@on_move
@maybe_offloaded
def move(request: MoveRequest) -> Any:
    if request.study_instance_uid == "1.2.3.NONE":
        return None
    return []


# -- NUL in a URI, from the master and from a worker ----------------------------------

def _nul_call() -> dict[str, Any]:
    import orthanc

    outcome: dict[str, Any] = {}
    for name, call in (("sdk.rest_get", lambda: sdk.rest_get("/system\0/../tools/reset")),
                       ("orthanc.RestApiGet", lambda: orthanc.RestApiGet("/system\0junk"))):
        try:
            call()
            outcome[name] = "answered"
        except ValueError as error:
            outcome[name] = f"ValueError: {error}"
        except Exception as error:
            outcome[name] = f"{type(error).__name__}: {error}"
    return outcome


@route("/fail-closed/nul/inline")
def nul_inline(request: Any) -> dict[str, Any]:
    return _nul_call()


@route("/fail-closed/nul/offloaded")
@offload(timeout=10)
def nul_offloaded(request: Any) -> dict[str, Any]:
    return _nul_call()
