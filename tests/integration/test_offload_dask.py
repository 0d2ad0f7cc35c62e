"""The same offloaded handlers on both backends: the local pool, and a real Dask cluster.

Each test runs twice, against an Orthanc whose configuration differs only in
``"Pool": {"Backend": ...}``: the answers must be the same.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir, system_version, wait_for
from tests.integration.test_offload import big_instance

SCRIPT = scripts_dir() / "offload_demo.py"


def pool_section(backend: str, cluster, **settings) -> dict:
    if backend == "local":
        return {"Workers": 2, **settings}
    return {"Backend": "dask", "Dask": {"Scheduler": cluster.address}, **settings}


@pytest.fixture(scope="module", params=["local", "dask"])
def orthanc(request, tmp_path_factory, dask_cluster):
    backend = request.param
    cluster = dask_cluster if backend == "dask" else None
    folder = tmp_path_factory.mktemp(f"offload-{backend}")
    markers = folder / "markers"
    markers.mkdir()
    config = {"OffloadMarkerDir": str(markers),
              "PythonRuntime": {"Pool": pool_section(backend, cluster)}}
    with running_orthanc(folder, SCRIPT, config) as server:
        server.backend = backend  # type: ignore[attr-defined]
        yield server


def pool_status(server) -> dict:
    return server.get("/runtime/status").json()["pool"]


def all_workers_ready(server) -> dict:
    """The pool's status once both workers are up and idle (after a crash, a timeout)."""
    def ready():
        status = pool_status(server)
        if status["backend"] == "local":
            return status["workers"]["idle"] == 2 and status
        return status["workers"]["total"] == 2 and status["tasks"]["in_flight"] == 0 and status
    return wait_for(ready, timeout=30, what="both workers ready")


def test_backend_is_the_one_configured(orthanc):
    status = pool_status(orthanc)
    assert status["backend"] == orthanc.backend
    assert status["workers"]["total"] == 2
    if orthanc.backend == "dask":
        assert status["scheduler"].startswith("tcp://127.0.0.1:") and status["connected"] is True
        assert len(status["workers"]["addresses"]) == 2
        assert status["max_waiting_routes"] == 25  # half of Orthanc's 50 HTTP threads


def test_offloaded_route_runs_outside_orthanc(orthanc):
    first = orthanc.get("/off/pid")
    assert first.status == 200
    assert first.json()["pid"] != orthanc.process.process.pid
    assert orthanc.get("/off/inline-pid").json()["pid"] == orthanc.process.process.pid


def test_worker_calls_the_sdk(orthanc):
    uploaded = orthanc.upload("CT_small.dcm")
    answer = orthanc.get(f"/off/sdk/{uploaded['ID']}").json()
    assert answer["version"] == system_version(orthanc)
    assert answer["patient"] == "CompressedSamples^CT1"
    assert answer["missing"] == [17, "Unknown resource"]
    log = orthanc.wait_for_log(f"offloaded-log-line from {answer['pid']}")
    if orthanc.backend == "dask":
        line = next(x for x in log.splitlines() if f"offloaded-log-line from {answer['pid']}" in x)
        assert "dask worker tcp://127.0.0.1:" in line  # the worker's address, in Orthanc's log
        assert "Bearer" not in log and "Bearer" not in orthanc.get("/runtime/status").text


def test_worker_gets_a_30_mb_instance_with_get_dicom_for_instance(orthanc, tmp_path):
    path = big_instance(tmp_path / "big.dcm")
    data = path.read_bytes()
    uploaded = orthanc.upload(path)
    answer = orthanc.get(f"/off/dicom/{uploaded['ID']}").json()
    assert answer["size"] == len(data)
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()


def test_large_request_and_response_bodies_cross_intact(orthanc):
    body = bytes(range(256)) * (12 << 12)  # 12 MB
    assert orthanc.post("/off/echo", body).json() == {
        "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    answer = orthanc.get("/off/big?mb=8")
    assert answer.status == 200 and len(answer.body) == 8 << 20


def test_offloaded_event_handlers_run_outside_orthanc(orthanc):
    uploaded = orthanc.upload("rtplan.dcm")
    markers = Path(orthanc.config["OffloadMarkerDir"])
    change = json.loads(wait_for(lambda: (markers / f"change-{uploaded['ID']}").exists()
                                 and (markers / f"change-{uploaded['ID']}").read_text()))
    stored = json.loads(wait_for(lambda: (markers / f"stored-{uploaded['ID']}").exists()
                                 and (markers / f"stored-{uploaded['ID']}").read_text()))
    assert orthanc.process.process.pid not in (change["pid"], stored["pid"])
    # The stored instance's bytes were fetched by the worker, on first use.
    assert stored["size"] == (PYDICOM_FILES / "rtplan.dcm").stat().st_size
    assert stored["modality"] == "RTPLAN" and stored["origin"] == "REST_API"


def test_exception_in_a_worker_answers_500_and_logs_its_traceback(orthanc):
    answer = orthanc.get("/off/raise")
    assert answer.status == 500
    body = answer.json()
    assert body["type"] == "ValueError" and "bad value" not in answer.text
    log = orthanc.wait_for_log(f"[error id {body['error_id']}]")
    assert 'raise ValueError("bad value in worker")' in log


def test_a_call_that_needs_the_plugin_raises_not_in_orthanc(orthanc):
    answer = orthanc.get("/off/forbidden")
    assert answer.status == 500
    assert answer.json()["type"] == "NotInOrthanc"
    assert "register_on_change cannot be called from a worker" in answer.json()["error"]


def test_timeout_answers_504(orthanc):
    all_workers_ready(orthanc)
    started = time.monotonic()
    answer = orthanc.get("/off/slow-timeout")
    assert answer.status == 504
    assert answer.json()["type"] == "TaskTimeout"
    took = time.monotonic() - started
    print(f"{orthanc.backend}: timeout 1 s answered {answer.status} after {took:.2f} s")
    assert took < 2.5
    if orthanc.backend == "dask":
        assert "may still be running on the cluster" in answer.json()["error"]
        orthanc.wait_for_log("may still be running on the cluster")
    assert orthanc.get("/off/pid").status == 200
    assert all_workers_ready(orthanc)["tasks"]["timed_out"] >= 1


def test_worker_killed_mid_request_answers_502_then_serves_again(orthanc):
    before = all_workers_ready(orthanc)["tasks"]["crashed"]
    started = time.monotonic()
    answer = orthanc.get("/off/kill")
    print(f"{orthanc.backend}: worker killed itself, answered {answer.status} after "
          f"{time.monotonic() - started:.3f} s")
    assert answer.status == 502
    assert answer.json()["type"] == "WorkerCrashed"
    assert orthanc.get("/off/pid").status == 200
    assert all_workers_ready(orthanc)["tasks"]["crashed"] == before + 1


def test_past_the_queue_limit_answers_503_with_retry_after(orthanc, tmp_path, dask_cluster):
    cluster = dask_cluster if orthanc.backend == "dask" else None
    config = {"OffloadMarkerDir": str(tmp_path),
              "PythonRuntime": {"Pool": pool_section(orthanc.backend, cluster, QueueLimit=0)}}
    with running_orthanc(tmp_path / "full", SCRIPT, config) as full:
        all_workers_ready(full)
        answers, refused = _overload(full)
    print(f"{orthanc.backend}: QueueLimit 0, third call answered {refused.status}")
    assert [a.status for a in answers] == [200, 200]
    assert refused.status == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"] == "PoolFull"


def _overload(orthanc):
    answers: list = []

    def call() -> None:
        answers.append(orthanc.get("/off/sleep?s=1.5"))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    # Both workers busy, QueueLimit 0: the next call is refused at once.
    wait_for(lambda: _running(orthanc) == 2, what="two calls running")
    started = time.monotonic()
    refused = orthanc.get("/off/pid")
    print(f"{pool_status(orthanc)['backend']}: refused in {(time.monotonic() - started) * 1000:.1f} ms")
    for t in threads:
        t.join()
    return answers, refused


def _running(server) -> int:
    status = pool_status(server)
    if status["backend"] == "local":
        return int(status["workers"]["busy"])
    return int(status["tasks"]["in_flight"])


def test_status_and_metrics_show_the_backend(orthanc):
    orthanc.get("/off/pid")
    status = pool_status(orthanc)
    assert status["tasks"]["done"] > 0
    metrics = orthanc.get("/tools/metrics-prometheus").text
    assert "orthanc_runtime_tasks_done" in metrics
    if orthanc.backend == "dask":
        assert "orthanc_runtime_dask_workers 2" in metrics
        assert "orthanc_runtime_dask_connected 1" in metrics
        assert "orthanc_runtime_tasks_crashed" in metrics


def test_an_offloaded_storage_area_runs_on_the_cluster(tmp_path, dask_cluster):
    import zlib

    area = tmp_path / "area"
    area.mkdir()
    config = {"StorageAreaTestFolder": str(area),
              "PythonRuntime": {"Pool": pool_section("dask", dask_cluster)}}
    original = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    with running_orthanc(tmp_path / "orthanc", scripts_dir() / "storage_area_offloaded.py",
                         config) as server:
        instance = server.upload("CT_small.dcm")
        compressed = list(area.glob("*.1.z"))
        assert len(compressed) == 1 and zlib.decompress(compressed[0].read_bytes()) == original
        assert int(compressed[0].with_suffix(".pid").read_text()) in dask_cluster.worker_pids()
        assert server.get(f"/instances/{instance}/file").body == original
