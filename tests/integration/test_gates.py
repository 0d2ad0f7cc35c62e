"""HTTP filters against a real Orthanc: refused requests answer 403, filters fail closed."""

from __future__ import annotations

import base64

import pytest

from tests.harness import running_orthanc, scripts_dir


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    config = {"PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(tmp_path_factory.mktemp("gates"), scripts_dir() / "gates.py",
                         config) as server:
        yield server


def test_accepted_requests_proceed(orthanc):
    assert orthanc.get("/gates/hello").json() == {"hello": "through"}
    assert orthanc.get("/system").status == 200


def test_an_inline_filter_refuses_with_403(orthanc):
    assert orthanc.get("/forbidden/anything").status == 403
    assert orthanc.get("/gates/hello", headers={"X-Block": "1"}).status == 403
    assert "no_forbidden_paths refused GET /forbidden/anything" in orthanc.log()


def test_an_offloaded_filter_decides_in_a_worker(orthanc):
    assert orthanc.get("/gates/hello?deny=1").status == 403
    assert orthanc.get("/gates/hello?deny=0").status == 200


def test_a_filter_that_raises_refuses_and_the_log_names_it(orthanc):
    assert orthanc.get("/gates/hello", headers={"X-Raise": "1"}).status == 403
    log = orthanc.log()
    assert "no_forbidden_paths (HTTP filter, GET /gates/hello): the request is refused" in log
    assert "the filter itself fails" in log


def test_a_filter_whose_worker_dies_refuses_and_the_pool_recovers(orthanc):
    assert orthanc.get("/gates/hello?die=1").status == 403
    assert "in_a_worker (HTTP filter, GET /gates/hello)" in orthanc.log()
    assert orthanc.get("/gates/hello").status == 200


def test_with_authentication_both_apply(tmp_path):
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "secret"},
              "PythonRuntime": {"Pool": {"Workers": 1}}}
    good = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
    with running_orthanc(tmp_path, scripts_dir() / "gates.py", config) as orthanc:
        assert orthanc.get("/gates/hello").status == 401
        assert orthanc.get("/forbidden/x").status == 401
        assert orthanc.get("/forbidden/x", headers=good).status == 403
        assert orthanc.get("/gates/hello", headers=good).status == 200


def test_the_official_plugins_filter_runs_unchanged(tmp_path):
    with running_orthanc(tmp_path, scripts_dir() / "gates_compat.py") as orthanc:
        assert orthanc.get("/secret/x").status == 403
        assert orthanc.get("/system?x=1").status == 200
        seen = orthanc.get("/compat-gates/seen").json()
        assert {"uri": "/secret/x", "method": 1, "ip": "127.0.0.1", "has_headers": True,
                "get": {}} in seen
        assert {"uri": "/system", "method": 1, "ip": "127.0.0.1", "has_headers": True,
                "get": {"x": "1"}} in seen
