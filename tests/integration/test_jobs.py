"""Python jobs in Orthanc's job engine (runtime.jobs), against a real Orthanc.

One Orthanc for the module, with ``ConcurrentJobs`` 1 (so that priority
decides which job runs next) and 2 workers. Every job records what each of
its steps did in a file per tag (tests/scripts/jobs_demo.py); each test uses
its own tags and waits for its jobs to end, so the next test finds the engine
idle.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.harness import Orthanc, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "jobs_demo.py"
CANCELED_JOB = 37  # Orthanc's ErrorCode_CanceledJob

_tags = itertools.count()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jobs")
    records = folder / "records"
    records.mkdir()
    config = {"JobsTestFolder": str(records), "ConcurrentJobs": 1,
              "PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(folder, SCRIPT, config) as server:
        yield server


def tag() -> str:
    return f"t{next(_tags)}-{time.monotonic_ns()}"


def submit(server: Orthanc, job_type: str, priority: int = 0, **arguments: Any) -> str:
    answer = server.post(f"/jobs-test/submit/{job_type}",
                         body=json.dumps({"Priority": priority, "Arguments": arguments}))
    assert answer.status == 200, answer.text
    return str(answer.json()["ID"])


def info(server: Orthanc, job_id: str) -> dict[str, Any]:
    answer = server.get(f"/jobs/{job_id}")
    assert answer.status == 200, answer.text
    return dict(answer.json())


def wait_state(server: Orthanc, job_id: str, *states: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = info(server, job_id)
        return found if found["State"] in states else None
    return dict(wait_for(reached, timeout=timeout, step=0.05, what=f"job in {states}"))


def lines(server: Orthanc, name: str) -> list[str]:
    path = Path(server.config["JobsTestFolder"]) / f"{name}.log"
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if line]


def done_steps(server: Orthanc, job_id: str) -> int:
    status = info(server, job_id)["Content"].get("Status") or {}
    return int(status.get("done", 0))


def busy_workers(server: Orthanc) -> int:
    return int(server.get("/runtime/status").json()["pool"]["workers"]["busy"])


@pytest.mark.parametrize("job_type", ["Count", "CountInline"])
def test_a_job_shows_in_jobs_with_rising_progress_then_succeeds_with_its_output(orthanc, job_type):
    name = tag()
    job_id = submit(orthanc, job_type, n=8, delay=0.25, tag=name)
    seen: list[int] = []

    def finished() -> dict[str, Any] | None:
        found = info(orthanc, job_id)
        seen.append(int(found["Progress"]))
        return found if found["State"] in ("Success", "Failure") else None

    final = wait_for(finished, timeout=30, step=0.05, what="the job's end")
    assert final["State"] == "Success", final
    assert final["Type"] == job_type
    assert final["Progress"] == 100
    assert final["Content"]["Output"] == {"counted": 8, "tag": name}
    assert final["Content"]["Offloaded"] is (job_type == "Count")
    assert seen == sorted(seen), f"progress went back: {seen}"
    assert len({p for p in seen if 0 < p < 100}) >= 3, f"progress seen: {sorted(set(seen))}"
    assert any(j == job_id for j in orthanc.get("/jobs").json())
    assert lines(orthanc, name) == [str(i) for i in range(8)]


@pytest.mark.parametrize("job_type", ["Count", "CountInline"])
def test_pause_then_resume_continues_from_the_checkpoint_without_redoing_a_step(orthanc, job_type):
    name = tag()
    job_id = submit(orthanc, job_type, n=10, delay=0.2, tag=name)
    wait_for(lambda: done_steps(orthanc, job_id) >= 2, what="two steps done")
    assert orthanc.post(f"/jobs/{job_id}/pause").status == 200
    paused = wait_state(orthanc, job_id, "Paused")
    assert 0 < paused["Progress"] < 100
    # The step under way when the pause came ends (its worker is free again); then
    # nothing runs while paused.
    wait_for(lambda: busy_workers(orthanc) == 0, what="the run ended")
    settled = len(lines(orthanc, name))
    time.sleep(1.0)
    assert len(lines(orthanc, name)) == settled, "a paused job went on"
    assert info(orthanc, job_id)["State"] == "Paused"
    assert orthanc.post(f"/jobs/{job_id}/resume").status == 200
    final = wait_state(orthanc, job_id, "Success", "Failure")
    assert final["State"] == "Success", final
    assert lines(orthanc, name) == [str(i) for i in range(10)], "a step was done twice or skipped"


@pytest.mark.parametrize("job_type", ["Count", "CountInline"])
def test_cancel_mid_step_ends_the_job_at_its_next_yield_then_resubmit_starts_over(orthanc, job_type):
    name = tag()
    job_id = submit(orthanc, job_type, n=10, delay=0.3, tag=name)
    wait_for(lambda: done_steps(orthanc, job_id) >= 1, what="one step done")
    assert orthanc.post(f"/jobs/{job_id}/cancel").status == 200
    final = wait_state(orthanc, job_id, "Failure")
    assert final["ErrorCode"] == CANCELED_JOB, final
    wait_for(lambda: busy_workers(orthanc) == 0, what="the run ended")
    ended = len(lines(orthanc, name))
    time.sleep(1.0)
    assert len(lines(orthanc, name)) == ended < 10, "a canceled job went on"
    if job_type == "Count":  # the worker is free again: a new job runs
        other = submit(orthanc, "Count", n=1, delay=0.0, tag=tag())
        assert wait_state(orthanc, other, "Success", "Failure")["State"] == "Success"
    assert orthanc.post(f"/jobs/{job_id}/resubmit").status == 200
    again = wait_state(orthanc, job_id, "Success", "Failure", timeout=30)
    assert again["State"] == "Success", again
    done = lines(orthanc, name)
    assert done[ended:] == [str(i) for i in range(10)], "a resubmit starts from the beginning"


def test_cancel_of_a_step_that_never_yields_ends_its_worker_after_the_grace(orthanc):
    name = tag()
    job_id = submit(orthanc, "Hang", tag=name)
    wait_for(lambda: lines(orthanc, name) == ["started"], what="the job started")
    pid = wait_for(lambda: info(orthanc, job_id)["Content"].get("Worker"), what="its worker")
    started = time.monotonic()
    assert orthanc.post(f"/jobs/{job_id}/cancel").status == 200
    final = wait_state(orthanc, job_id, "Failure")
    assert final["ErrorCode"] == CANCELED_JOB
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             what="the worker ended")
    took = time.monotonic() - started
    print(f"\ncancel of a step that never yields (cancel_grace 1 s): the job canceled and its "
          f"worker ended {took:.2f} s after the cancel")
    assert took < 1 + 5, f"the worker ended {took:.1f} s after the cancel (grace 1 s)"
    assert lines(orthanc, name) == ["started"]  # its finally block never ran: the worker was ended
    other = submit(orthanc, "Count", n=2, delay=0.0, tag=tag())
    assert wait_state(orthanc, other, "Success", "Failure")["State"] == "Success"
    workers = orthanc.get("/runtime/status").json()["pool"]["workers"]
    assert len(workers["pids"]) == 2 and pid not in workers["pids"]


@pytest.mark.parametrize("job_type", ["Fail", "FailInline"])
def test_a_step_that_raises_fails_the_job_with_its_message(orthanc, job_type):
    job_id = submit(orthanc, job_type, at=2)
    final = wait_state(orthanc, job_id, "Failure")
    assert final["ErrorCode"] != CANCELED_JOB
    content = final["Content"]
    assert content["Error"] == "ValueError: bad input at step 2"
    assert content["Steps"] == 2
    log = orthanc.wait_for_log(f"[error id {content['ErrorId']}]")
    assert "bad input at step 2" in log and "Traceback" in log


def test_a_worker_killed_during_a_step_fails_the_job_never_hangs(orthanc):
    name = tag()
    job_id = submit(orthanc, "Suicide", tag=name)
    final = wait_state(orthanc, job_id, "Failure")
    assert "SIGKILL" in final["Content"]["Error"], final["Content"]
    assert final["ErrorCode"] != CANCELED_JOB


def test_a_worker_sigkilled_from_outside_during_a_step_fails_the_job_at_once(orthanc):
    name = tag()
    job_id = submit(orthanc, "Count", n=20, delay=0.3, tag=name)
    pid = wait_for(lambda: info(orthanc, job_id)["Content"].get("Worker"), what="its worker")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    final = wait_state(orthanc, job_id, "Failure")
    took = time.monotonic() - killed
    print(f"\nSIGKILL of the worker: the job failed {took:.2f} s later: {final['Content']['Error']}")
    assert "SIGKILL" in final["Content"]["Error"] and final["ErrorCode"] != CANCELED_JOB
    assert len(lines(orthanc, name)) < 20
    wait_for(lambda: len(orthanc.get("/runtime/status").json()["pool"]["workers"]["pids"]) == 2,
             what="the worker replaced")


def test_a_step_longer_than_its_offload_timeout_ends_its_worker_and_fails_the_job(orthanc):
    name = tag()
    job_id = submit(orthanc, "Slow", tag=name)
    wait_for(lambda: lines(orthanc, name) == ["started"], what="the job started")
    started = time.monotonic()
    final = wait_state(orthanc, job_id, "Failure")
    took = time.monotonic() - started
    print(f"\na step with @offload(timeout=1) that sleeps 60 s: the job failed after {took:.2f} s: "
          f"{final['Content']['Error']}")
    assert final["Content"]["Error"] == "StepTimeout: a step took more than 1 s; its worker was ended"
    assert took < 1 + 5
    assert lines(orthanc, name) == ["started"]


def test_a_job_type_with_retries_runs_again_from_its_checkpoint_after_a_crash(orthanc):
    name = tag()
    job_id = submit(orthanc, "SuicideOnce", tag=name)
    final = wait_state(orthanc, job_id, "Success", "Failure")
    assert final["State"] == "Success", final
    assert final["Content"]["Retries"] == 1
    assert final["Content"]["Output"] == {"survived": True}
    assert lines(orthanc, name) == ["run", "run"]
    text = (Path(orthanc.config["JobsTestFolder"]) / f"{name}.log").read_text()
    assert "run from None" in text and "run from 1" in text


def test_priority_decides_which_job_runs_next_with_one_concurrent_job(orthanc):
    blocker = submit(orthanc, "CountInline", n=4, delay=0.5, tag=tag())
    wait_state(orthanc, blocker, "Running")
    # Both write to one file, in the order they run: the low one 2 lines, the high one 1.
    shared = tag()
    low_id = submit(orthanc, "CountInline", priority=1, n=2, delay=0.0, tag=shared)
    high_id = submit(orthanc, "CountInline", priority=10, n=1, delay=0.0, tag=shared)
    assert info(orthanc, low_id)["State"] == "Pending"  # the blocker still runs
    for job_id in (blocker, low_id, high_id):
        assert wait_state(orthanc, job_id, "Success", "Failure")["State"] == "Success"
    assert lines(orthanc, shared) == ["0", "0", "1"], "the job of lower priority ran first"


def test_a_job_submitted_from_an_offloaded_handler_runs(orthanc):
    answer = orthanc.post("/jobs-test/submit-from-worker/Plain",
                          body='{"Arguments": {"value": 21}}')
    assert answer.status == 200, answer.text
    assert answer.json()["pid"] != orthanc.process.process.pid
    final = wait_state(orthanc, answer.json()["ID"], "Success", "Failure")
    assert final["State"] == "Success"
    assert final["Content"]["Output"] == {"twice": 42}


def test_an_unknown_job_type_is_refused_at_submit(orthanc):
    before = set(orthanc.get("/jobs").json())
    answer = orthanc.post("/jobs-test/submit/Nope", body='{"Arguments": {}}')
    assert answer.status == 500
    assert set(orthanc.get("/jobs").json()) == before
    assert "no job type 'Nope' is declared" in orthanc.wait_for_log("no job type 'Nope'")
