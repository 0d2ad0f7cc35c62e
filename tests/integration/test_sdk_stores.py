"""The SDK calls of Orthanc 1.12 and 1.13 against the Orthanc that runs the tests.

Each test asks the running Orthanc its version and asserts what that version
must do: the real result where it has the call (key-value stores and queues
from 1.12.8, SetStableStatus and EmitAuditLog from 1.12.9, reserved queue values
from 1.12.10, LogMessage from 1.12.4...), and where it lacks it, an
OrthancException whose message names the version needed, with Orthanc still
serving. The same file runs on Debian 12 (1.10.1), 13 (1.12.7) and unstable (1.13.0).
"""

from __future__ import annotations

import base64
import io
import time
import uuid
from typing import Any

import pydicom
import pytest

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir

SCRIPT = scripts_dir() / "sdk_stores.py"
WHERE = ["/stores", "/stores-offloaded"]  # the master (official style), a worker (@offload)
NOT_IMPLEMENTED = 2  # ErrorCode.NOT_IMPLEMENTED


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    config = {"PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path_factory.mktemp("stores"), SCRIPT, config) as server:
        version = server.get("/system").json()["Version"]
        server.version = version
        server.built_sdk = call(server, "/stores", "built")["sdk"]  # the header it was built against
        server.at_least = lambda wanted: has(version, wanted)
        yield server


def has(version: str, wanted: str) -> bool:
    """Whether an Orthanc of ``version`` ("1.12.7", "mainline") is ``wanted`` or newer."""
    if version == "mainline":
        return True
    return tuple(int(x) for x in version.split(".")[:3]) >= tuple(int(x) for x in wanted.split("."))


def call(orthanc, where: str, case: str, **params: Any) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    answer = orthanc.get(f"{where}/{case}" + (f"?{query}" if query else ""))
    assert answer.status == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def assert_needs(orthanc, result: dict[str, Any], call_name: str, version: str) -> None:
    """The clear error of a call this Orthanc lacks, and Orthanc still serving.

    The plugin built against this Orthanc's own SDK header (Debian's orthanc-dev) has no
    binding of the call, and says so; built against a newer header, it asks the running
    Orthanc."""
    assert result.get("error") == "OrthancException", result
    assert result["code"] == NOT_IMPLEMENTED
    needs = f"{call_name} needs Orthanc {version} or newer; "
    assert result["message"] in (
        f"{needs}this is Orthanc {orthanc.version}",
        f"{needs}this plugin was built against the SDK of Orthanc {orthanc.built_sdk}: rebuild it "
        f"where orthanc-dev is {version} or newer"), result
    assert orthanc.get("/system").status == 200


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("where", WHERE)
def test_a_key_value_store_stores_replaces_deletes_and_iterates_in_key_order(orthanc, where):
    result = call(orthanc, where, "kv", name=unique("kv"))
    if not orthanc.at_least("1.12.8"):
        assert_needs(orthanc, result, "StoreKeyValue", "1.12.8")
        return
    assert result == {"a": "first", "missing": None,
                      "walked": [["a-key", "first"], ["c-key", "replaced"]]}


@pytest.mark.parametrize("where", WHERE)
def test_stores_are_apart_and_the_runtime_wrapper_is_a_mapping(orthanc, where):
    name = unique("kv-runtime")
    result = call(orthanc, where, "kv-runtime", name=name)
    if not orthanc.at_least("1.12.8"):
        assert_needs(orthanc, result, "StoreKeyValue", "1.12.8")
        return
    assert result == {"items": [["one", "1"], ["two", "2"]], "one": "1", "has_two": True,
                      "has_gone": False, "len": 2, "default": "none"}
    other = call(orthanc, where, "kv", name=unique("kv-other"))
    assert ["one", "1"] not in other["walked"]


@pytest.mark.parametrize("where", WHERE)
def test_a_queue_dequeues_from_the_front_or_the_back(orthanc, where):
    result = call(orthanc, where, "queue", name=unique("queue"))
    if not orthanc.at_least("1.12.8"):
        assert_needs(orthanc, result, "EnqueueValue", "1.12.8")
        return
    assert result == {"size": 3, "front": "first", "back": "third", "left": 1, "middle": "second",
                      "empty": None}
    runtime = call(orthanc, where, "queue-runtime", name=unique("queue-runtime"))
    assert runtime == {"size": 2, "last": "job-2", "first": "job-1", "none": None}


def test_a_reserved_value_is_hidden_until_acknowledged_or_its_timeout_passes(orthanc):
    name = unique("reserve")
    result = call(orthanc, "/stores", "reserve", name=name, timeout=2, fill="a,b")
    if not orthanc.at_least("1.12.8"):
        assert_needs(orthanc, result, "EnqueueValue", "1.12.8")
        return
    if not orthanc.at_least("1.12.10"):  # queues but no reservations: Debian 13's 1.12.7 has neither
        assert_needs(orthanc, result, "ReserveQueueValue", "1.12.10")
        return
    (first, first_id), (second, second_id) = result["reserved"]
    assert (first, second) == ("a", "b") and first_id != second_id
    assert result["size"] == 2  # reserved values still count
    assert call(orthanc, "/stores", "reserve", name=name, timeout=60)["reserved"] == []
    assert call(orthanc, "/stores", "acknowledge", name=name, id=second_id) == {"size": 1}
    # The first is never acknowledged: once its 2 s are over, it is free again, same id.
    deadline = time.monotonic() + 15
    while True:
        again = call(orthanc, "/stores", "reserve", name=name, timeout=60)["reserved"]
        if again or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert again == [["a", first_id]]
    assert call(orthanc, "/stores", "acknowledge", name=name, id=first_id) == {"size": 0}
    gone = call(orthanc, "/stores", "acknowledge", name=name, id=first_id)
    assert gone["error"] == "OrthancException" and gone["code"] == 17, gone  # UNKNOWN_RESOURCE


@pytest.mark.parametrize("where", WHERE)
def test_the_runtime_queue_reserves_and_acknowledges(orthanc, where):
    result = call(orthanc, where, "reserve-runtime", name=unique("reserve-runtime"))
    if not orthanc.at_least("1.12.8"):
        assert_needs(orthanc, result, "EnqueueValue", "1.12.8")
        return
    if not orthanc.at_least("1.12.10"):
        assert_needs(orthanc, result, "ReserveQueueValue", "1.12.10")
        return
    assert result == {"value": "work", "again": None, "size_reserved": 1, "size_after": 0}


def test_log_message_goes_to_orthancs_log_filtered_by_its_category(orthanc):
    http, dicom = unique("http-info"), unique("dicom-info")
    warning = unique("dicom-warning")
    if orthanc.at_least("1.12.4"):  # each category has its own verbosity (Orthanc >= 1.8.1)
        assert orthanc.put("/tools/log-level-http", "verbose").status == 200
        assert orthanc.put("/tools/log-level-dicom", "default").status == 200
    category = {"http": 4, "dicom": 16}  # LogCategory
    level = {"warning": 1, "info": 2}  # LogLevel
    results = [call(orthanc, "/stores", "log", text=http, category=category["http"], level=level["info"],
                    line=101),
               call(orthanc, "/stores", "log", text=dicom, category=category["dicom"],
                    level=level["info"]),
               call(orthanc, "/stores", "log", text=warning, category=category["dicom"],
                    level=level["warning"], line=103)]
    if not orthanc.at_least("1.12.4"):
        for result in results:
            assert_needs(orthanc, result, "LogMessage", "1.12.4")
        return
    assert results == [{}, {}, {}]
    lines = orthanc.wait_for(lambda: [line for line in orthanc.log().splitlines() if warning in line],
                             what="the warning in the log")
    assert lines[0].startswith("W") and "sdk_stores.py:103" in lines[0]
    log = orthanc.log()
    http_lines = [line for line in log.splitlines() if http in line]
    assert len(http_lines) == 1 and http_lines[0].startswith("I") and "sdk_stores.py:101" in http_lines[0]
    assert dicom not in log  # an INFO of the DICOM category, whose level is "default"


def test_set_stable_status_forces_a_study_stable_then_unstable(orthanc):
    study = orthanc.upload("CT_small.dcm")["ParentStudy"]
    assert orthanc.get(f"/studies/{study}").json()["IsStable"] is False  # StableAge is 60 s
    result = call(orthanc, "/stores", "stable", id=study, status=0)  # StableStatus.STABLE
    if not orthanc.at_least("1.12.9"):
        assert_needs(orthanc, result, "SetStableStatus", "1.12.9")
        return
    assert result == {"code": 0, "changed": 1}
    assert orthanc.get(f"/studies/{study}").json()["IsStable"] is True
    changes = orthanc.get("/changes?limit=1000").json()["Changes"]
    assert any(c["ChangeType"] == "StableStudy" and c["ID"] == study for c in changes)
    assert call(orthanc, "/stores", "stable", id=study, status=0) == {"code": 0, "changed": 0}
    assert call(orthanc, "/stores", "stable", id=study, status=1) == {"code": 0, "changed": 1}
    assert orthanc.get(f"/studies/{study}").json()["IsStable"] is False


def test_an_audit_log_is_accepted_by_an_orthanc_that_has_them(orthanc):
    study = orthanc.upload("CT_small.dcm")["ParentStudy"]
    result = call(orthanc, "/stores", "audit", id=study)
    if not orthanc.at_least("1.12.9"):
        assert_needs(orthanc, result, "EmitAuditLog", "1.12.9")
        return
    # No audit-log handler is installed: Orthanc takes the entry and answers nothing.
    assert result == {"result": None}


@pytest.mark.parametrize("where", WHERE)
def test_an_integer_metric_shows_in_prometheus(orthanc, where):
    name = f"ort_int_metric_{uuid.uuid4().hex[:6]}"
    result = call(orthanc, where, "metric", name=name, value=123456789)
    if not orthanc.at_least("1.12.1"):
        assert_needs(orthanc, result, "SetMetricsIntegerValue", "1.12.1")
        return
    assert result == {}
    metrics = orthanc.get("/tools/metrics-prometheus").text
    assert any(line.split(" ")[:2] == [name, "123456789"] for line in metrics.splitlines()), metrics


def test_thread_names_in_the_master_and_refused_in_a_worker(orthanc):
    result = call(orthanc, "/stores", "thread", name="ORT-TEST", clear=1)
    if not orthanc.at_least("1.12.2"):
        assert_needs(orthanc, result, "SetCurrentThreadName", "1.12.2")
    elif not orthanc.at_least("1.13.0"):
        assert_needs(orthanc, result, "ClearCurrentThreadName", "1.13.0")
    else:
        assert result == {"set": None, "cleared": None}
    refused = call(orthanc, "/stores-offloaded", "thread", name="ORT-WORKER")
    assert refused["error"] == "NotInOrthanc" and "SetCurrentThreadName" in refused["message"]


@pytest.mark.parametrize("mode", [1, 2, 3])  # LoadDicomInstanceMode: whole, until pixels, empty pixels
def test_load_dicom_instance_in_each_mode(orthanc, mode):
    instance = orthanc.upload("CT_small.dcm")["ID"]
    result = call(orthanc, "/stores", "load", id=instance, mode=mode)
    if not orthanc.at_least("1.12.1"):
        assert_needs(orthanc, result, "LoadDicomInstance", "1.12.1")
        return
    assert result["patient"] == "1CT1"
    loaded = pydicom.dcmread(io.BytesIO(base64.b64decode(result["data"])))
    original = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    assert loaded.SOPInstanceUID == original.SOPInstanceUID
    if mode == 1:
        assert result["pixels"] is True and loaded.PixelData == original.PixelData
    elif mode == 2:
        assert result["pixels"] is False and "PixelData" not in loaded
        assert result["size"] < len((PYDICOM_FILES / "CT_small.dcm").read_bytes())
    else:
        assert not loaded.get("PixelData") or not loaded.PixelData  # absent or empty


def test_create_dicom2_writes_private_tags_of_its_creator(orthanc):
    result = call(orthanc, "/stores", "create2")  # CreateDicom2: every supported Orthanc has it
    assert "error" not in result, result
    dicom = pydicom.dcmread(io.BytesIO(base64.b64decode(result["dicom"])))
    assert dicom.PatientID == "CD2-1" and str(dicom.PatientName) == "Create^Two"
    assert dicom[0x0009, 0x0010].value == "ORT TEST"
    private = dicom[0x0009, 0x1001].value  # UN to pydicom, which lacks the private dictionary
    assert (private if isinstance(private, str) else private.decode()).rstrip("\x00 ") == "private value"


def test_the_database_server_identifier(orthanc):
    result = call(orthanc, "/stores", "database")
    if not orthanc.at_least("1.11.1"):
        assert_needs(orthanc, result, "GetDatabaseServerIdentifier", "1.11.1")
        return
    assert isinstance(result["id"], str) and len(result["id"]) >= 8
