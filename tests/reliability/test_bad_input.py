"""Bad input gets a clear answer, never a 500 and never a crash."""

from __future__ import annotations

import http.client

import pytest

from tests.harness import running_orthanc, scripts_dir


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    config = {"PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(tmp_path_factory.mktemp("bad"), scripts_dir() / "reliability.py", config) as server:
        yield server


def raw_get(orthanc, path: str) -> int:
    """Sends the path as is (no client-side quoting)."""
    connection = http.client.HTTPConnection("127.0.0.1", orthanc.http_port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_non_json_body_answers_400(orthanc):
    for body in (b"{", b"\xff\xfe", b"[1, 2,]", b""):
        answer = orthanc.post("/rel/json", body)
        assert answer.status == 400, body
        assert "not valid JSON" in answer.json()["error"]


def test_oversized_bodies(orthanc):
    big = b"z" * (64 << 20)
    assert orthanc.post("/rel/echo", big).json() == {"size": 64 << 20}  # through shared memory
    answer = orthanc.post("/rel/json", big)
    assert answer.status == 400
    assert len(answer.body) < 4096  # the error does not echo the body


@pytest.mark.parametrize("path", [
    "/rel/param/..", "/rel/param/%2E%2E", "/rel/param/a%2Fb", "/rel/param/a%00b",
    "/rel/param/" + "x" * 10000, "/rel/path/../../etc/passwd", "/rel/path/%2e%2e/%2e%2e/x",
    "/rel/param/%ZZ", "/rel/work/99999999999999999999999", "/rel/work/-1",
])
def test_odd_path_parameters_never_answer_500(orthanc, path):
    status = raw_get(orthanc, path)
    assert status in (200, 400, 404, 414), (path, status)
    assert orthanc.get("/rel/inline/1").status == 200  # and Orthanc keeps serving


def test_path_parameter_values_arrive_decoded_and_unchanged(orthanc):
    assert orthanc.get("/rel/param/caf%C3%A9").json() == {"value": "café"}
    long_value = "y" * 5000
    assert orthanc.get(f"/rel/param/{long_value}").json() == {"value": long_value}
    assert orthanc.get("/rel/path/a/b/c").json() == {"rest": "a/b/c"}


def test_unknown_method_on_a_route_answers_405(orthanc):
    answer = orthanc.delete("/rel/inline/1")
    assert answer.status == 405 and answer.headers["allow"] == "GET"
