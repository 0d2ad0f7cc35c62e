"""The official plugin's filters answering what they should not (tests/integration/test_fail_closed.py).

The HTTP filter reads the answer's name from ``?compat=``, the C-STORE filter
from the PatientID (``ANS-<name>``); both find it in fail_closed.ANSWERS'
twin below.
"""

import io

import orthanc
import pydicom


async def _never_awaited():
    return False


ANSWERS = {
    "True": True, "False": False, "no": "no", "yes": "yes", "empty": "", "1": 1, "0": 0,
    "1.0": 1.0, "0.0": 0.0, "None": None, "allowed-false": {"allowed": False}, "list": [False],
    "0xB000": 0xB000, "0xB006": 0xB006, "0xB007": 0xB007, "0x0107": 0x0107, "0x0001": 0x0001,
    "0xFF00": 0xFF00, "0xFF01": 0xFF01, "0xFE00": 0xFE00, "0x10000": 0x10000, "-1": -1,
    "0xA700": 0xA700, "0xA900": 0xA900, "0xC000": 0xC000, "0x0122": 0x0122,
    "0x0124": 0x0124, "0x0110": 0x0110, "0x0211": 0x0211,
}


def answer(name):
    if name == "coroutine":
        return _never_awaited()
    return ANSWERS[name]


def Filter(uri, **request):
    wanted = request["get"].get("compat")
    return True if wanted is None else answer(wanted)


def CStoreFilter(receivedDicom):
    dataset = pydicom.dcmread(io.BytesIO(receivedDicom.GetInstanceData()))
    patient = str(dataset.PatientID)
    return answer(patient[len("ANS-"):]) if patient.startswith("ANS-") else 0


def Secret(output, uri, **request):
    output.AnswerBuffer('{"secret": 42}', "application/json")


orthanc.RegisterIncomingHttpRequestFilter(Filter)
orthanc.RegisterIncomingCStoreInstanceFilter(CStoreFilter)
orthanc.RegisterRestCallback("/fail-closed/secret", Secret)
