"""The CPU demo recipe in a real Orthanc (the recipe is the script), and the demo of all recipes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness import overlapping, running_orthanc, wait_for

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "cpu_demo.py"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    config = {"PythonRuntime": {"Pool": {"Workers": 2},
                                "Recipes": {"CpuDemo": {"DefaultIterations": 3, "MaxIterations": 500}}}}
    with running_orthanc(tmp_path_factory.mktemp("cpu"), RECIPE, config) as server:
        yield server


def orthanc_pid(server) -> int:
    return server.process.process.pid


def test_offloaded_computation_runs_in_a_worker(orthanc):
    answer = orthanc.get("/computation?n=2")
    assert answer.status == 200
    body = answer.json()
    assert body["n"] == 2 and body["offloaded"] is True
    assert body["seconds"] >= 0 and body["start"] <= body["end"]
    workers = orthanc.get("/runtime/status").json()["pool"]["workers"]["pids"]
    assert body["pid"] != orthanc_pid(orthanc) and body["pid"] in workers


def test_inline_computation_runs_in_orthanc(orthanc):
    body = orthanc.get("/computation/inline?n=2").json()
    assert body["pid"] == orthanc_pid(orthanc) and body["offloaded"] is False


def test_the_configured_default_size_applies_when_the_recipe_is_the_script(orthanc):
    assert orthanc.get("/computation").json()["n"] == 3  # DefaultIterations
    assert orthanc.get("/computation?n=0").json()["n"] == 0


@pytest.mark.parametrize("query", ["n=-1", "n=abc", "n=501", "n=1.5", "n=1_0", "n=%2B5", "n=%205",
                                   "n=%D9%A3", "n=" + "9" * 5000])
def test_bad_sizes_answer_400(orthanc, query):
    for route in ("/computation", "/computation/inline"):
        answer = orthanc.get(f"{route}?{query}")
        assert answer.status == 400
        assert answer.json()["parameter"] == "n" and "between 0 and 500" in answer.json()["error"]


def test_two_offloaded_computations_overlap_in_two_workers(orthanc):
    a, b = overlapping(orthanc, "/computation?n=500")
    assert a["pid"] != b["pid"]
    assert a["start"] < b["end"] and b["start"] < a["end"]  # their run times overlap


# -- make demo: examples/demo.py, every recipe at once --------------------------------------------

def test_the_demo_serves_every_recipe(tmp_path):
    config = {"StableAge": 1, "PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(tmp_path, ROOT / "examples" / "demo.py", config) as orthanc:
        log = orthanc.wait_for_log(f"demo:   curl http://localhost:{orthanc.http_port}/runtime/status")
        assert "orthanc-runtime demo: uploaded" in log
        urls = [line.split("curl ", 1)[1] for line in log.splitlines() if "demo:   curl" in line]
        assert len(urls) == 16
        for url in urls:
            target = next(part for part in url.split() if part.strip("'").startswith("http"))
            path = target.strip("'").split(str(orthanc.http_port), 1)[1]
            expected = 415 if "# 415" in url else 422 if "# 422" in url else 200
            if url.startswith("-X POST"):
                answer = orthanc.post(path)
            elif path.endswith("/archive"):  # once the export job has written it
                answer = wait_for(lambda p=path: (a := orthanc.get(p)).status == 200 and a,
                                  timeout=30, what="the study's archive")
            else:
                answer = orthanc.get(path)
            assert answer.status == expected, (path, answer.text[:300])

        def sent() -> list:
            return orthanc.get("/recipes/auto-routing/status").json()["sent"]

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({s["resource"] for s in sent()}) < 2:
            time.sleep(0.2)
        assert len({s["resource"] for s in sent()}) == 2  # the two MR studies
        assert {s["destination"] for s in sent()} == {"peer:demo-loopback"}
