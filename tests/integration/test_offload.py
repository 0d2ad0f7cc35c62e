"""@offload in a real Orthanc: handlers in worker processes, SDK calls proxied back."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.harness import (
    PYDICOM_FILES,
    overlapping,
    running_orthanc,
    scripts_dir,
    system_version,
    wait_for,
)

SCRIPT = scripts_dir() / "offload_demo.py"


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "python-path"])
def orthanc(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("offload")
    markers = folder / "markers"
    markers.mkdir()
    config = {"OffloadMarkerDir": str(markers),
              "PythonRuntime": {"Pool": {"Workers": 2, "FastPath": request.param}}}
    with running_orthanc(folder, SCRIPT, config) as server:
        yield server


def orthanc_pid(server) -> int:
    return server.process.process.pid


def worker_pids(server) -> set[int]:
    return set(server.get("/runtime/status").json()["pool"]["workers"]["pids"])




def test_offloaded_route_runs_in_a_worker(orthanc):
    answer = orthanc.get("/off/pid")
    assert answer.status == 200
    pid = answer.json()["pid"]
    assert pid != orthanc_pid(orthanc)
    assert pid in worker_pids(orthanc)
    assert orthanc.get("/off/inline-pid").json()["pid"] == orthanc_pid(orthanc)


def test_concurrent_offloaded_requests_run_in_parallel_workers(orthanc):
    a, b = overlapping(orthanc, "/off/cpu?n=5000000")
    assert a["pid"] != b["pid"]
    assert a["start"] < b["end"] and b["start"] < a["end"]  # their run times overlap


def test_worker_calls_the_sdk_through_the_master(orthanc):
    uploaded = orthanc.upload("CT_small.dcm")
    answer = orthanc.get(f"/off/sdk/{uploaded['ID']}").json()
    assert answer["version"] == system_version(orthanc)
    assert answer["patient"] == "CompressedSamples^CT1"
    assert answer["missing"] == [17, "Unknown resource"]
    orthanc.wait_for_log(f"offloaded-log-line from {answer['pid']}")


def test_worker_gets_a_real_instance_with_get_dicom_for_instance(orthanc):
    uploaded = orthanc.upload("MR_small.dcm")
    answer = orthanc.get(f"/off/dicom/{uploaded['ID']}").json()
    data = (PYDICOM_FILES / "MR_small.dcm").read_bytes()
    assert answer["size"] == len(data)
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()


def big_instance(path: Path, megabytes: int = 32) -> Path:
    side = 4096
    frames = max(1, (megabytes << 20) // (side * side * 2))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "BIG", "Big^Instance", "OT"
    ds.Rows = ds.Columns = side
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (bytes(range(256)) * (side * side * 2 * frames // 256))
    ds.save_as(path, enforce_file_format=True)
    return path


def test_worker_gets_a_30_mb_instance(orthanc, tmp_path):
    path = big_instance(tmp_path / "big.dcm")
    data = path.read_bytes()
    assert len(data) > 30 << 20
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
    assert answer.body[:512] == bytes(range(256)) * 2


def test_worker_killed_mid_request_answers_502_then_serves_again(orthanc):
    before = orthanc.get("/runtime/status").json()["pool"]
    answer = orthanc.get("/off/kill")
    assert answer.status == 502
    body = answer.json()
    assert body["type"] == "WorkerCrashed" and "SIGKILL" in body["error"]
    assert orthanc.get("/off/pid").status == 200
    after = wait_for(lambda: (s := orthanc.get("/runtime/status").json()["pool"])["workers"]["idle"] == 2 and s)
    assert after["tasks"]["crashed"] == before["tasks"]["crashed"] + 1
    assert after["workers"]["total"] == 2
    assert "offload_demo.kill" in orthanc.log()


def test_timeout_answers_504_and_replaces_the_worker(orthanc):
    started = time.monotonic()
    answer = orthanc.get("/off/timeout")
    assert answer.status == 504
    assert answer.json()["type"] == "TaskTimeout"
    assert time.monotonic() - started < 10
    assert orthanc.get("/off/pid").status == 200
    status = wait_for(lambda: (s := orthanc.get("/runtime/status").json()["pool"])["workers"]["idle"] == 2 and s)
    assert status["tasks"]["timed_out"] >= 1


def test_exception_in_a_worker_answers_500_json_and_logs_the_remote_traceback(orthanc):
    answer = orthanc.get("/off/raise")
    assert answer.status == 500
    body = answer.json()
    assert body["type"] == "ValueError" and "bad value" not in answer.text
    assert body["error"] == f"internal error in the handler; see Orthanc's log, error id {body['error_id']}"
    log = orthanc.wait_for_log(f"[error id {body['error_id']}]")
    assert "offload_demo.raises" in log and 'raise ValueError("bad value in worker")' in log


def test_a_worker_cannot_call_what_the_runtime_does_not_proxy(orthanc):
    answer = orthanc.get("/off/forbidden")
    assert answer.status == 500
    assert answer.json()["type"] == "NotInOrthanc"
    assert "register_on_change cannot be called from a worker" in answer.json()["error"]


def test_offloaded_on_change_and_on_stored_instance_run_in_workers(orthanc):
    uploaded = orthanc.upload("rtplan.dcm")
    markers = Path(orthanc.config["OffloadMarkerDir"])
    change = json.loads(wait_for(lambda: (markers / f"change-{uploaded['ID']}").exists()
                                 and (markers / f"change-{uploaded['ID']}").read_text()))
    stored = json.loads(wait_for(lambda: (markers / f"stored-{uploaded['ID']}").exists()
                                 and (markers / f"stored-{uploaded['ID']}").read_text()))
    pids = worker_pids(orthanc)
    assert change["pid"] in pids and stored["pid"] in pids
    assert stored["size"] == (PYDICOM_FILES / "rtplan.dcm").stat().st_size
    assert stored["modality"] == "RTPLAN" and stored["origin"] == "REST_API"


def test_runtime_status(orthanc):
    status = orthanc.get("/runtime/status").json()
    pool = status["pool"]
    assert pool["size"] == 2
    assert set(pool["workers"]) >= {"idle", "busy", "starting", "total", "pids"}
    assert set(pool["tasks"]) >= {"done", "failed", "timed_out", "crashed", "recycled"}
    assert pool["tasks"]["done"] > 0
    assert {"p50", "p90", "p99"} <= set(pool["latency_ms"])
    off = {r["pattern"]: r["offloaded"] for r in status["routes"]}
    assert off["/off/pid"] is True and off["/off/inline-pid"] is False
    metrics = orthanc.get("/tools/metrics-prometheus").text
    assert "orthanc_runtime_tasks_done" in metrics
    assert "orthanc_runtime_workers_idle" in metrics


def test_nested_offload_completes_with_one_worker(tmp_path):
    config = {"OffloadMarkerDir": str(tmp_path), "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path / "one", SCRIPT, config) as orthanc:
        answer = orthanc.get("/off/nested", timeout=30)
        assert answer.status == 200, answer.text
        assert answer.json()["outer"] != answer.json()["inner"]


def test_stop_with_requests_in_flight_lets_them_finish(tmp_path):
    config = {"OffloadMarkerDir": str(tmp_path), "PythonRuntime": {"Pool": {"Workers": 2}}}
    answers: list[int] = []
    with running_orthanc(tmp_path / "stop", SCRIPT, config) as orthanc:
        def call() -> None:
            answers.append(orthanc.get("/off/sleep?s=2").status)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        wait_for(lambda: orthanc.get("/runtime/status").json()["pool"]["workers"]["busy"] == 2)
        orthanc.process.process.send_signal(15)  # SIGTERM now; the harness then checks exit 0 and no leftover process
        for t in threads:
            t.join(30)
        orthanc.process.process.wait(30)
    assert answers == [200, 200]


MODULE_LEVEL_SDK = '''
import orthanc
from runtime import offload, route
from runtime import sdk

sdk.log.warning("module-level log line")
CONFIG = orthanc.GetConfiguration()


@route("/module-level")
@offload
def module_level(request):
    return {"config_len": len(CONFIG), "name": sdk.configuration()["Name"]}
'''


def test_sdk_logs_and_configuration_at_import_work_in_workers_too(tmp_path):
    """A worker imports the script before any task: logs and the configuration still work."""
    script = tmp_path / "module_level.py"
    script.write_text(MODULE_LEVEL_SDK)
    with running_orthanc(tmp_path / "run", script) as orthanc:
        answer = orthanc.get("/module-level").json()
        assert answer["name"] == "orthanc-runtime" and answer["config_len"] > 100
        log = orthanc.wait_for_log("orthanc-runtime worker")
        assert "W orthanc-runtime worker" in log and "module-level log line" in log
