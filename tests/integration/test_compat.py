"""The `orthanc` compatibility module against a real Orthanc: request dict, answers,
exceptions, enums, DicomInstance accessors, SDK calls and several callbacks of a kind."""

from __future__ import annotations

import pytest

from runtime import ChangeType
from tests.harness import (
    PYDICOM_FILES,
    orthanc_version,
    redirect_status,
    running_orthanc,
    scripts_dir,
    system_version,
    wait_for,
)


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("compat"), scripts_dir() / "compat_api.py") as server:
        yield server


def test_request_dict_for_get_has_groups_headers_and_get(orthanc):
    answer = orthanc.get("/compat/echo/a/b?x=1&y=%C3%A9", headers={"X-Test": "Value"})
    request = answer.json()
    assert answer.status == 200
    assert request["method"] == "GET"
    assert request["groups"] == ["/a/b"] and request["groups_type"] == "tuple"
    assert request["headers"]["x-test"] == "Value"  # lower-case names
    # as Orthanc passes them: percent-encoded up to 1.12.7, decoded by 1.13.0
    y = "é" if orthanc_version() >= (1, 13, 0) else "%C3%A9"
    assert request["get"] == {"x": "1", "y": y}
    assert "body" not in request and request["body_type"] == "NoneType"
    assert request["uri"] == "/compat/echo/a/b"


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_request_dict_for_post_and_put_has_a_bytes_body_and_no_get(orthanc, method):
    request = orthanc.request(method, "/compat/echo?z=1", body=b"\x00payload").json()
    assert request["method"] == method
    assert request["body"] == "\x00payload" and request["body_type"] == "bytes"
    assert "get" not in request


def test_request_dict_for_delete_has_neither_body_nor_get(orthanc):
    request = orthanc.delete("/compat/echo").json()
    assert request["method"] == "DELETE"
    assert "get" not in request and "body" not in request
    assert request["groups"] == [""]


def test_answer_buffer_with_headers_and_cookie(orthanc):
    answer = orthanc.get("/compat/answers/buffer")
    assert answer.status == 200
    assert answer.body == b"\x00\x01binary"
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-custom"] == "yes"
    assert "session=abc" in answer.headers["set-cookie"]


def test_answer_buffer_accepts_str(orthanc):
    answer = orthanc.get("/compat/answers/text")
    assert answer.body == "hé".encode()


def test_send_method_not_allowed(orthanc):
    answer = orthanc.get("/compat/answers/not-allowed")
    assert answer.status == 405
    assert answer.headers["allow"] == "GET,PUT"


def test_send_http_status_code_and_status(orthanc):
    assert orthanc.get("/compat/answers/status-code").status == 404
    answer = orthanc.get("/compat/answers/status")
    assert answer.status == 403
    assert answer.body == b"Forbidden here"


def test_send_http_status_with_the_size_of_official_4_0_sends_that_many_bytes(orthanc):
    answer = orthanc.get("/compat/answers/status-sized")
    assert answer.status == 403
    assert answer.body == b"Forbidden here"


def test_redirect_and_unauthorized(orthanc):
    answer = orthanc.get("/compat/answers/redirect")
    assert answer.status == redirect_status() and answer.headers["location"] == "/app/explorer.html"
    answer = orthanc.get("/compat/answers/unauthorized")
    assert answer.status == 401
    assert 'realm="my realm"' in answer.headers["www-authenticate"]


def test_orthanc_exception_args_are_code_and_message(orthanc):
    answer = orthanc.get("/compat/errors/unknown-resource").json()
    assert answer == {"args0": 17, "args1": "Unknown resource", "is_unknown": True}


def test_uncaught_orthanc_exception_answers_its_status_as_json(orthanc):
    answer = orthanc.get("/compat/errors/uncaught")
    assert answer.status == 404
    body = answer.json()
    assert body["type"] == "OrthancException"
    assert body["orthanc_code"] == 17
    assert body["route"] == "/compat/errors/(.*)"


def test_python_exception_answers_500_json_and_logs_the_handler(orthanc):
    answer = orthanc.get("/compat/errors/python")
    assert answer.status == 500
    assert answer.json()["type"] == "KeyError"
    log = orthanc.wait_for_log("compat_api.Errors")
    assert "KeyError: 'boom'" in log
    assert orthanc.get("/compat/enums").status == 200  # the next request is served


def test_enums_have_the_official_values(orthanc):
    assert orthanc.get("/compat/enums").json() == {
        "ChangeType.STABLE_STUDY": 9,
        "ChangeType.ORTHANC_STARTED": 10,
        "ResourceType.STUDY": 1,
        "InstanceOrigin.REST_API": 3,
        "InstanceOrigin.DICOM_PROTOCOL": 2,
        "HttpMethod.POST": 2,
        "ErrorCode.UNKNOWN_RESOURCE": 17,
        "ErrorCode.BAD_FILE_FORMAT": 15,
    }


def test_sdk_calls(orthanc):
    answer = orthanc.get("/compat/sdk").json()
    assert answer["name"] == "orthanc-runtime"
    assert answer["token_type"] == "str" and answer["token_len"] > 10
    assert answer["version"] == system_version(orthanc)
    assert answer["same"] is True
    assert answer["lookup"] == []
    log = orthanc.wait_for_log("compat-error-line")
    assert "compat-warning-line" in log and "compat-info-line" in log


def test_dicom_instance_accessors(orthanc):
    uploaded = orthanc.upload("CT_small.dcm")
    stored = orthanc.get(f"/compat/stored/{uploaded['ID']}").json()
    size = (PYDICOM_FILES / "CT_small.dcm").stat().st_size
    assert stored == {
        "size": size,
        "data_len": size,
        "data_magic": "DICM",
        "transfer_syntax_metadata": "1.2.840.10008.1.2.1",
        "has_sop": True,
        "origin": 3,
        "origin_is_rest": True,
        "remote_aet": "",
        "patient_name": "CompressedSamples^CT1",
        "full_json_has_tag": True,
        "transfer_syntax": "1.2.840.10008.1.2.1",
    }


def test_several_on_change_callbacks_each_receive_every_change_in_order(orthanc):
    uploaded = orthanc.upload("MR_small.dcm")
    new_instance = [3, 3, uploaded["ID"]]
    # Events that are not in Orthanc's log (NEW_CHILD_INSTANCE, ORTHANC_STARTED) are
    # delivered as they happen, each callback on its own thread, in any order.
    live = {ChangeType.NEW_CHILD_INSTANCE, ChangeType.ORTHANC_STARTED, ChangeType.DELETED}

    def both_saw_it():
        changes = orthanc.get("/compat/changes").json()
        a = [c[1:] for c in changes if c[0] == "A"]
        b = [c[1:] for c in changes if c[0] == "B"]
        same_live = sorted(c for c in a if c[0] in live) == sorted(c for c in b if c[0] in live)
        return (a, b) if new_instance in a and new_instance in b and same_live else None

    a, b = wait_for(both_saw_it, timeout=10, what="both callbacks saw the same changes")
    # Up to the new instance, both saw the changes of Orthanc's log in its order.
    logged_a = [c for c in a[:a.index(new_instance) + 1] if c[0] not in live]
    logged_b = [c for c in b[:b.index(new_instance) + 1] if c[0] not in live]
    assert logged_a == logged_b
    assert [10, 4, ""] in a  # ORTHANC_STARTED (level NONE), "" as the official plugin passes


def test_a_named_group_is_refused_with_value_error(orthanc):
    log = orthanc.log()
    assert "named group refused" in log
    assert orthanc.get("/compat/whatever").status == 404
