"""The fast path (fast_path.cpp): offloaded requests that never take the master's GIL."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from tests.harness import running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "fast_path_demo.py"


@pytest.fixture(scope="module", params=[True, False], ids=["fast", "python"])
def orthanc(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast")
    config = {"PythonRuntime": {"Pool": {"Workers": 2, "FastPath": request.param}}}
    with running_orthanc(folder, SCRIPT, config) as server:
        server.fast = request.param
        yield server


def test_an_offloaded_request_answers_while_the_master_holds_its_gil(orthanc):
    holding = threading.Thread(target=lambda: orthanc.get("/fast/hold-gil?s=3"))
    assert orthanc.get("/fast/pid").status == 200  # the workers are ready
    holding.start()
    time.sleep(0.3)  # the inline handler holds the master's GIL now
    started = time.monotonic()
    answer = orthanc.get("/fast/pid")
    took = time.monotonic() - started
    holding.join()
    print(f"FastPath {orthanc.fast}: answered in {took:.3f} s while the master held its GIL for 3 s")
    assert answer.status == 200
    if orthanc.fast:
        assert took < 1.0
    else:  # the Python path waits for the GIL (this is what the fast path is for)
        assert took > 1.0


def test_request_parts_cross_to_the_handler(orthanc):
    answer = orthanc.post("/fast/items/42", "the body", headers={"X-Test": "h-1"})
    assert answer.status == 200, answer.text
    assert answer.json() == {"item": 42, "body": "the body", "header": "h-1"}
    query = orthanc.get("/fast/pid?a=1&b=x%20y").json()["query"]
    assert query == {"a": "1", "b": "x y"}


def test_a_method_the_route_lacks_answers_405(orthanc):
    answer = orthanc.get("/fast/items/42")
    assert answer.status == 405
    assert "POST" in answer.headers.get("allow", "")


def test_an_sdk_call_from_a_fast_handler_is_served_by_the_master(orthanc):
    answer = orthanc.get("/fast/sdk")
    assert answer.status == 200, answer.text
    assert "version" in answer.json()


def test_fast_answers_and_errors_are_counted_with_their_latency(orthanc):
    def pool():
        return orthanc.get("/runtime/status").json()["pool"]

    before = pool()
    for _ in range(5):
        assert orthanc.get("/fast/pid").status == 200
    for _ in range(2):
        answer = orthanc.get("/fast/fail")
        assert answer.status == 500, answer.text
        assert answer.json()["error_id"]  # the message stays in the log, under this id
    # A pickled answer is written before its worker is given back (and counted): wait for it.
    wait_for(lambda: pool()["tasks"]["failed"] >= before["tasks"]["failed"] + 2,
             what="two more failed tasks")
    after = pool()
    print(f"FastPath {orthanc.fast}: tasks {before['tasks']} -> {after['tasks']}, latency "
          f"{after['latency_ms']}")
    assert after["tasks"]["done"] - before["tasks"]["done"] == 5
    assert after["tasks"]["failed"] - before["tasks"]["failed"] == 2
    assert after["latency_ms"]["count"] - before["latency_ms"]["count"] == 7
    assert after["latency_ms"]["p50"] > 0


def test_header_bytes_that_are_not_utf8_reach_the_handler_replaced_on_both_paths(orthanc):
    """Orthanc hands headers over as bytes: UTF-8 is decoded, anything else replaced (U+FFFD),
    the same in the worker's native codec as on the master's Python path."""
    connection = http.client.HTTPConnection("127.0.0.1", orthanc.http_port, timeout=30)
    try:
        connection.putrequest("POST", "/fast/items/7")
        connection.putheader("X-Test", b"caf\xc3\xa9 \xff!")
        connection.putheader("Content-Length", "1")
        connection.endheaders(b"x")
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    assert answer.status == 200, body
    assert json.loads(body) == {"item": 7, "body": "x", "header": "caf\u00e9 \ufffd!"}
