"""Python ``logging`` in handlers reaches Orthanc's log with the handler's name and a request id
that follows the request into its worker, its SDK calls and its error answer (runtime.context,
runtime.sdk.pylog)."""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest

from tests.harness import orthanc_version, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "logs_demo.py"
_tags = itertools.count(1)


def tag() -> str:
    return f"T{next(_tags)}x{time.monotonic_ns()}"


@pytest.fixture(scope="module", params=[True, False], ids=["fast", "python"])
def orthanc(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    config = {"PythonRuntime": {"Pool": {"Workers": 2, "FastPath": request.param}}}
    with running_orthanc(folder, SCRIPT, config) as server:
        yield server


def line_with(server, text: str) -> str:
    """The one line of Orthanc's log that holds ``text`` (waited for: a worker's line comes
    through the master)."""
    log = server.wait_for_log(text)
    found = [line for line in log.splitlines() if text in line]
    assert len(found) == 1, found
    return found[0]


def named(line: str, handler: str, request_id: str) -> None:
    """``handler``: its name in the script (logs_demo.py), as the runtime names it."""
    assert f"[handler=logs_demo.{handler} req={request_id}]" in line, line


def test_an_inline_handler_logs_with_its_name_and_the_answers_request_id(orthanc):
    mark = tag()
    answer = orthanc.get(f"/logs/inline?tag={mark}")
    assert answer.status == 200, answer.text
    request_id = answer.headers["x-request-id"]
    assert answer.json()["request_id"] == request_id
    warning = line_with(orthanc, f"inline says {mark}")
    named(warning, "inline", request_id)
    assert warning.startswith("W"), warning  # Orthanc's WARNING
    assert "logs_demo: inline says" in warning  # the logger's name
    info = line_with(orthanc, f"inline informs {mark}")  # Orthanc runs --verbose: INFO shows
    assert info.startswith("I"), info
    named(info, "inline", request_id)
    assert f"inline whispers {mark}" not in orthanc.log()  # DEBUG is below the root's INFO


def test_an_offloaded_handler_logs_through_the_master_with_the_same_request_id(orthanc):
    mark = tag()
    answer = orthanc.get(f"/logs/offloaded?tag={mark}")
    assert answer.status == 200, answer.text
    body = answer.json()
    request_id = answer.headers["x-request-id"]
    assert body["request_id"] == request_id  # the worker saw the id the client gets
    assert body["pid"] != orthanc.get(f"/logs/inline?tag={tag()}").json()["pid"]
    warning = line_with(orthanc, f"offloaded says {mark}")
    assert warning.startswith("W"), warning
    named(warning, "offloaded", request_id)
    error = line_with(orthanc, f"offloaded errs {mark}")
    assert error.startswith("E"), error
    named(error, "offloaded", request_id)
    info = line_with(orthanc, f"offloaded informs {mark}")  # the worker follows --verbose too
    assert info.startswith("I"), info
    named(info, "offloaded", request_id)
    assert f"offloaded whispers {mark}" not in orthanc.log()


def test_request_ids_differ_between_requests(orthanc):
    ids = {orthanc.get(f"/logs/offloaded?tag={tag()}").headers["x-request-id"] for _ in range(4)}
    ids |= {orthanc.get(f"/logs/inline?tag={tag()}").headers["x-request-id"] for _ in range(4)}
    assert len(ids) == 8
    assert all(re.fullmatch(r"[0-9a-f]{4}-\d+", each) for each in ids), ids


def test_a_clients_request_id_is_kept_in_the_answer_the_worker_and_the_log(orthanc):
    mark = tag()
    mine = f"client-{mark}"
    answer = orthanc.get(f"/logs/offloaded?tag={mark}", headers={"X-Request-Id": mine})
    assert answer.headers["x-request-id"] == mine
    assert answer.json()["request_id"] == mine
    named(line_with(orthanc, f"offloaded says {mark}"), "offloaded", mine)
    inline = orthanc.get(f"/logs/inline?tag={mark}", headers={"X-Request-Id": mine})
    assert inline.headers["x-request-id"] == mine


def test_a_request_id_that_is_too_long_or_not_printable_is_replaced(orthanc):
    for refused in ("x" * 65, "has space", "caf\u00e9"):
        mark = tag()
        answer = orthanc.get(f"/logs/offloaded?tag={mark}",
                             headers={"X-Request-Id": refused.encode().decode("latin-1")})
        assert answer.status == 200, answer.text
        assert answer.headers["x-request-id"] != refused
        assert re.fullmatch(r"[0-9a-f]{4}-\d+", answer.headers["x-request-id"])


def test_an_error_answer_names_the_request_id_and_so_does_the_logged_traceback(orthanc):
    mark = tag()
    answer = orthanc.get(f"/logs/fails?tag={mark}")
    assert answer.status == 500, answer.text
    body = answer.json()
    request_id = answer.headers["x-request-id"]
    assert body["request_id"] == request_id and body["error_id"]
    named(line_with(orthanc, f"about to fail {mark}"), "fails", request_id)
    logged = line_with(orthanc, f"[error id {body['error_id']}]")
    named(logged, "fails", request_id)
    inline = orthanc.get(f"/logs/inline-fails?tag={mark}")
    assert inline.status == 500
    assert inline.json()["request_id"] == inline.headers["x-request-id"]
    named(line_with(orthanc, f"[error id {inline.json()['error_id']}]"), "inline_fails",
          inline.headers["x-request-id"])


def test_a_workers_failed_sdk_call_is_logged_by_the_master_with_the_request_id(orthanc):
    mark = tag()
    answer = orthanc.get(f"/logs/sdk-fails?tag={mark}")
    assert answer.status == 200, answer.text
    request_id = answer.headers["x-request-id"]
    assert answer.json()["request_id"] == request_id
    master = line_with(orthanc, f"req={request_id}] orthanc-runtime: GetDicomForInstance "
                                "called by a worker failed")
    assert master.startswith("I"), master  # a handler may expect it: not an error of Orthanc's
    named(master, "sdk_fails", request_id)
    named(line_with(orthanc, f"req={request_id}] logs_demo: the lookup failed"), "sdk_fails",
          request_id)


def test_an_event_handler_logs_with_its_name_and_one_request_id_a_delivery(orthanc):
    patient = orthanc.upload("CT_small.dcm")["ParentPatient"]
    line = line_with(orthanc, f"event new patient {patient}")
    found = re.search(r"\[handler=logs_demo\.new_patient req=([^\]]+)\] .* req (\S+)$", line)
    assert found is not None, line
    assert found.group(1) == found.group(2)  # the worker's request_id() is the logged one


def test_a_job_logs_with_its_type_and_its_request_id(orthanc):
    mark = tag()
    answer = orthanc.post("/logs/job", json.dumps({"tag": mark}))
    assert answer.status == 200, answer.text
    job_id = answer.json()["ID"]
    wait_for(lambda: orthanc.get(f"/jobs/{job_id}").json()["State"] == "Success",
             what="the job's success")
    line = line_with(orthanc, f"job says {mark}")
    found = re.search(r"\[handler=LogJob req=([^\]]+)\] .* req (\S+)$", line)
    assert found is not None, line
    assert found.group(1) == found.group(2)
    assert orthanc.get(f"/jobs/{job_id}").json()["Content"]["Output"]["request_id"] == found.group(1)


def test_on_orthanc_1_12_4_lines_go_through_log_message_with_the_scripts_file(orthanc):
    mark = tag()
    orthanc.get(f"/logs/inline?tag={mark}")
    line = line_with(orthanc, f"inline says {mark}")
    header = line.split("]", 1)[0]
    if orthanc_version() >= (1, 12, 4):
        # LogMessage names the record's file and line in the place of Orthanc's own source
        assert "logs_demo.py" in header, line
    else:
        assert "logs_demo.py" not in header, line
