"""Worker faults under load: only the request a dead worker was serving fails."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from tests.harness import running_orthanc, scripts_dir
from tests.reliability.conftest import wait_until
from tests.reliability.load import hammer

CLIENTS = 32
PER_CLIENT = 8


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    config = {"PythonRuntime": {"Pool": {"Workers": 2, "MaxWorkerMemoryMB": 150}}}
    with running_orthanc(tmp_path_factory.mktemp("faults"), scripts_dir() / "reliability.py", config) as server:
        yield server


def pool_status(orthanc) -> dict:
    return orthanc.get("/runtime/status").json()["pool"]


def full_again(orthanc, gone: int | None = None):
    status = pool_status(orthanc)
    pids = status["workers"]["pids"]
    ok = (status["workers"]["total"] == 2 and status["workers"]["starting"] == 0
          and gone not in pids and all(psutil.pid_exists(p) for p in pids))
    return status if ok else None


def load_with(orthanc, fault_path: str | None, fault: callable | None = None):
    """32 clients on /rel/work; a fault injected once the load runs. Returns (work results, fault result)."""
    requests = [("GET", f"/rel/work/{n}", None) for n in range(CLIENTS * PER_CLIENT)]
    fault_result: list = []
    started = threading.Event()

    def inject() -> None:
        started.wait(30)
        time.sleep(0.5)
        if fault_path is not None:
            started_at = time.monotonic()
            answer = orthanc.get(fault_path)
            answer.headers["x-test-seconds"] = f"{time.monotonic() - started_at:.2f}"
            fault_result.append(answer)
        if fault is not None:
            fault_result.append(fault())

    injector = threading.Thread(target=inject)
    injector.start()
    results = hammer(orthanc.http_port, requests, CLIENTS, on_progress=lambda done: started.set())
    injector.join(60)
    return results, fault_result[0] if fault_result else None


def check_work(results, allowed_failures: int = 0):
    failed = [r for r in results if r.status != 200]
    assert len(failed) <= allowed_failures, [(r.path, r.status, r.body[:200]) for r in failed]
    for r in results:
        if r.status == 200:
            assert r.json()["n"] == int(r.path.rsplit("/", 1)[1])  # each answer is its request's
    for r in failed:
        assert r.status == 502 and r.json()["type"] == "WorkerCrashed"
    return failed


def test_sigkill_of_a_busy_worker_fails_only_its_request(orthanc):
    before = pool_status(orthanc)
    victim: list[int] = []

    recovery: list[float] = []

    def kill_busy() -> int:
        victim.append(pool_status(orthanc)["workers"]["pids"][0])
        os.kill(victim[0], signal.SIGKILL)
        # measured while the load goes on: from the kill until the pool is full again
        recovery.append(wait_until(lambda: full_again(orthanc, victim[0]), timeout=5)[1])
        return victim[0]

    results, _ = load_with(orthanc, None, kill_busy)
    failed = check_work(results, allowed_failures=1)
    assert len(failed) == 1  # the victim was busy: exactly its request failed
    assert "SIGKILL" in failed[0].json()["error"]
    status, _ = wait_until(lambda: full_again(orthanc, victim[0]), timeout=5)
    seconds = recovery[0]
    print(f"\nSIGKILL under load: {len(results)} requests, {len(failed)} failed (502), "
          f"pool full again {seconds:.3f} s after the kill")
    assert seconds < 1.0, f"pool back to full size after {seconds:.2f} s"
    assert status["tasks"]["crashed"] == before["tasks"]["crashed"] + 1


@pytest.mark.parametrize("path, exitcode_text", [("/rel/segv", "SIGSEGV"), ("/rel/exit", "exited with code 3")])
def test_segfault_or_exit_of_a_worker_fails_only_its_request(orthanc, path, exitcode_text):
    results, fault = load_with(orthanc, path)
    check_work(results)
    print(f"\n{path} under load: {len(results)} other requests all 200; the faulty one "
          f"{fault.status}: {fault.json()['error']}")
    assert fault.status == 502
    assert fault.json()["type"] == "WorkerCrashed" and exitcode_text in fault.json()["error"]
    wait_until(lambda: full_again(orthanc), timeout=5)


def test_hanging_handler_answers_504_and_others_are_served(orthanc):
    results, fault = load_with(orthanc, "/rel/hang")
    check_work(results)
    print(f"\n/rel/hang under load: {len(results)} other requests all 200; the hanging one "
          f"{fault.status} after {fault.headers['x-test-seconds']} s")
    assert fault.status == 504 and fault.json()["type"] == "TaskTimeout"
    wait_until(lambda: full_again(orthanc), timeout=5)


def test_worker_past_its_memory_limit_is_recycled_and_the_request_answered(orthanc):
    before = pool_status(orthanc)
    answer = orthanc.get("/rel/grow/200")
    assert answer.status == 200 and answer.json()["held_mb"] >= 200
    grown = answer.json()["pid"]
    status, seconds = wait_until(lambda: (s := full_again(orthanc, grown)) and
                           s["tasks"]["recycled"] > before["tasks"]["recycled"] and s, timeout=10)
    assert grown not in status["workers"]["pids"]
    print(f"\nworker {grown} grew past MaxWorkerMemoryMB 150: answered 200, recycled, "
          f"replaced after {seconds:.2f} s")
    results = hammer(orthanc.http_port, [("GET", f"/rel/work/{n}", None) for n in range(20)], 4)
    check_work(results)
