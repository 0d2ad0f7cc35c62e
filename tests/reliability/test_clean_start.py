"""A start logs no error: the event feeds read their checkpoints only once Orthanc has started.

Orthanc refuses database calls while its plugins initialise, and logs the
refusal at ERROR ("Plugin trying to call the database during its
initialization"). A script with an on-change handler, in either API, must
start with no ERROR line in Orthanc's log, and still see every event.
"""

from __future__ import annotations

import re

import pytest

RUNTIME_STYLE = '''
from runtime import ChangeType, offload, on_change, route

SEEN = []

@on_change(ChangeType.NEW_INSTANCE)
def seen(change):
    SEEN.append(change.resource_id)

@on_change(ChangeType.ORTHANC_STARTED)
def started(change):
    SEEN.append("started")

@on_change(ChangeType.NEW_SERIES)
@offload
def series(change):
    pass

@route("/clean/seen")
def seen_route(request):
    return SEEN
'''

OFFICIAL_STYLE = '''
import json
import orthanc

SEEN = []

def OnChange(changeType, level, resource):
    if changeType == orthanc.ChangeType.NEW_INSTANCE:
        SEEN.append(resource)
    elif changeType == orthanc.ChangeType.ORTHANC_STARTED:
        SEEN.append("started")

def Seen(output, uri, **request):
    output.AnswerBuffer(json.dumps(SEEN), "application/json")

orthanc.RegisterOnChangeCallback(OnChange)
orthanc.RegisterRestCallback("/clean/seen", Seen)
'''

# Orthanc's log lines start with their level and the date: E1205 14:07:51.123456 ...
ERROR_LINE = re.compile(r"^E\d{4} .*$", re.MULTILINE)
FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]


@pytest.mark.parametrize("style", ["runtime", "official"])
def test_a_script_with_an_on_change_handler_starts_without_an_error(
        style, tmp_path, orthanc_factory, dicom_files):
    script = tmp_path / f"clean_start_{style}.py"
    script.write_text(RUNTIME_STYLE if style == "runtime" else OFFICIAL_STYLE)
    orthanc = orthanc_factory(script, {"PythonRuntime": {"Pool": {"Workers": 1}}})
    orthanc.wait_for(lambda: "started" in orthanc.get("/clean/seen").json(), timeout=15,
                     what="ORTHANC_STARTED delivered")
    instances = [orthanc.upload(dicom_files / name) for name in FILES]
    orthanc.wait_for(lambda: set(instances) <= set(orthanc.get("/clean/seen").json()),
                     timeout=20, what="every stored instance delivered")
    seen = orthanc.get("/clean/seen").json()
    assert sorted(x for x in seen if x != "started") == sorted(instances)  # each once, none lost
    errors = ERROR_LINE.findall(orthanc.log())
    assert not errors, "Orthanc logged errors at start:\n" + "\n".join(errors)
