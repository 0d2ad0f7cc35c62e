"""The decorator API against a real Orthanc: routes, errors as JSON, events, shutdown."""

from __future__ import annotations

import json
import time

import pytest

from tests.harness import (
    PYDICOM_FILES,
    orthanc_version,
    running_orthanc,
    scripts_dir,
    start_failure,
    system_version,
    wait_for,
)

SCRIPT = scripts_dir() / "api_demo.py"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    config = {"ApiTestMarker": str(folder / "marker.txt"), "StableAge": 1}
    with running_orthanc(folder, SCRIPT, config) as server:
        yield server


def test_template_route_with_query(orthanc):
    answer = orthanc.get("/api/hello/world?a=1&b=x%20y")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"hello": "world", "query": {"a": "1", "b": "x y"}}


def test_int_converter_and_several_methods(orthanc):
    assert orthanc.get("/api/items/42").json() == {"n": 42, "type": "int", "method": "GET", "body": ""}
    assert orthanc.put("/api/items/7", "data").json()["body"] == "data"
    assert orthanc.delete("/api/items/7").status == 204
    assert orthanc.get("/api/items/x").status == 404  # not an int: no route


def test_method_not_accepted_answers_405_with_allow(orthanc):
    answer = orthanc.post("/api/items/1", "x")
    assert answer.status == 405
    assert answer.headers["allow"] == "GET, PUT, DELETE"


def test_raw_regex_gives_groups(orthanc):
    assert orthanc.get("/api/raw/abc/123").json() == {"groups": ["abc", "123"], "params": {}}


def test_request_json_and_headers(orthanc):
    answer = orthanc.post("/api/echo", json.dumps({"a": [1, 2]}),
                          headers={"Content-Type": "application/json"})
    assert answer.json() == {"json": {"a": [1, 2]}, "content_type": "application/json"}


def test_invalid_json_body_answers_400(orthanc):
    answer = orthanc.post("/api/echo", "{not json")
    assert answer.status == 400
    body = answer.json()
    assert "not valid JSON" in body["error"]
    assert body["route"] == "/api/echo"


def test_shorthand_return_values(orthanc):
    text = orthanc.get("/api/text")
    assert text.body == "plain text é".encode()
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    data = orthanc.get("/api/bytes")
    assert data.body == b"\x89PNG-not-really"
    assert data.headers["content-type"] == "application/octet-stream"
    assert orthanc.get("/api/list").json() == [1, "two", None]


def test_response_object_status_type_and_headers(orthanc):
    answer = orthanc.get("/api/response", headers={"X-Custom": "abc"})
    assert answer.status == 201
    assert answer.body == b"created"
    # Orthanc 1.12 and newer send a non-200 answer's body as text/plain (docs/orthanc-versions.md)
    expected = "text/x-custom" if orthanc_version() < (1, 12, 0) else "text/plain"
    assert answer.headers["content-type"].split(";")[0] == expected
    assert answer.headers["x-request-header"] == "abc"


def test_unsupported_return_type_answers_500_naming_the_type(orthanc):
    answer = orthanc.get("/api/bad-return")
    assert answer.status == 500
    assert "handler returned int" in answer.json()["error"]


def test_exception_answers_500_json_with_an_error_id_and_the_log_names_the_handler(orthanc):
    answer = orthanc.get("/api/raise")
    assert answer.status == 500
    body = answer.json()
    error_id = body["error_id"]
    assert body == {"error": f"internal error in the handler; see Orthanc's log, error id {error_id}",
                    "status": 500, "route": "/api/raise", "type": "RuntimeError",
                    "error_id": error_id, "request_id": answer.headers["x-request-id"]}
    assert "Traceback" not in answer.text and "broken handler" not in answer.text
    log = orthanc.wait_for_log(f"[error id {error_id}]")
    line = log[log.index(f"[error id {error_id}]"):]
    assert "api_demo.raises" in log and 'raise RuntimeError("broken handler")' in line
    assert orthanc.get("/api/hello/again").status == 200  # the next request is served


def test_http_error_answers_its_status(orthanc):
    answer = orthanc.get("/api/http-error")
    assert answer.status == 409
    assert answer.json()["error"] == "conflict here"
    assert answer.json()["reason"] == "demo"


def test_orthanc_error_keeps_orthancs_status(orthanc):
    answer = orthanc.get("/api/orthanc-404")
    assert answer.status == 404
    body = answer.json()
    assert body["type"] == "OrthancError" and body["orthanc_code"] == 17
    assert orthanc.get("/api/orthanc-400").status == 400


def test_sdk_facade(orthanc):
    uploaded = orthanc.upload("CT_small.dcm")
    answer = orthanc.get(f"/api/sdk?id={uploaded['ID']}").json()
    assert answer["version"] == system_version(orthanc)
    assert answer["name"] == "orthanc-runtime"
    assert answer["pool"] == 256  # runtime.config, defaults filled in
    assert answer["dicom_size"] == (PYDICOM_FILES / "CT_small.dcm").stat().st_size


def test_on_stored_instance_reads_the_stored_instance(orthanc):
    uploaded = orthanc.upload("MR_small.dcm")
    stored = wait_for(lambda: (a := orthanc.get(f"/api/stored/{uploaded['ID']}").json())
                      .get("error") != "not seen" and a, what="the stored-instance handler ran")
    size = (PYDICOM_FILES / "MR_small.dcm").stat().st_size
    assert stored == {"size": size, "data_len": size, "origin": "REST_API", "modality": "MR",
                      "remote_aet": "", "sop_class": "1.2.840.10008.5.1.4.1.1.4"}


def test_on_change_listeners_filter_and_keep_arrival_order(orthanc):
    uploaded = orthanc.upload("rtplan.dcm")
    deadline = time.monotonic() + 15
    events: list[list[str]] = []
    while time.monotonic() < deadline:
        events = orthanc.get("/api/events").json()
        if ["first", "STABLE_STUDY", "STUDY", uploaded["ParentStudy"]] in events:
            break
        time.sleep(0.2)
    mine = [e for e in events if e[3] in (uploaded["ID"], uploaded["ParentSeries"], uploaded["ParentStudy"])]
    new_instance = ["NEW_INSTANCE", "INSTANCE", uploaded["ID"]]
    assert ["first", *new_instance] in mine and ["second", *new_instance] in mine
    assert ["first", "STABLE_STUDY", "STUDY", uploaded["ParentStudy"]] in mine
    assert all(e[2] == "SERIES" for e in mine if e[0] == "series")
    assert ["series", "NEW_SERIES", "SERIES", uploaded["ParentSeries"]] in mine
    # each handler sees the changes in the order of Orthanc's change log
    assert mine.index(["first", *new_instance]) < mine.index(
        ["first", "STABLE_STUDY", "STUDY", uploaded["ParentStudy"]])


def test_pending_changes_are_drained_at_shutdown(tmp_path):
    marker = tmp_path / "marker.txt"
    with running_orthanc(tmp_path, SCRIPT, {"ApiTestMarker": str(marker)}) as orthanc:
        ids = [orthanc.upload(name)["ID"] for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")]
    lines = marker.read_text().splitlines()
    assert lines[:3] == [f"instance {i}" for i in ids]  # each took 0.3 s, queued behind the others
    assert lines[-1] == "stopped"


def test_invalid_configuration_refuses_to_start(tmp_path):
    code, log = start_failure(tmp_path, SCRIPT, {"PythonRuntime": {"Pool": {"Workers": 0, "Bogus": 1}}})
    assert code != 0
    assert "$.PythonRuntime.Pool.Workers" in log
    assert "$.PythonRuntime.Pool.Bogus" in log
