"""Jobs survive a stop of Orthanc (docs/reliability.md, "Jobs").

With Orthanc's ``SaveJobs`` (its default), two jobs of 30 steps of 0.2 s,
one offloaded and one inline, are running when Orthanc gets SIGTERM or
``kill -9``; a new Orthanc on the same storage resumes both from their last
checkpoint and finishes them. Each step appends its index to a file: every
index must be there, and none twice but the one step that was under way when
Orthanc died (at least once, never more than once beyond the last step).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Orthanc, prepare, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "jobs_demo.py"
STEPS = 30


def config(records: Path) -> dict[str, Any]:
    return {"JobsTestFolder": str(records), "ConcurrentJobs": 2, "SaveJobs": True,
            "PythonRuntime": {"Pool": {"Workers": 2, "ShutdownGrace": 3}}}


def done(records: Path, name: str) -> Counter[str]:
    path = records / f"{name}.log"
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line)


def submit(server: Orthanc, job_type: str, name: str) -> str:
    answer = server.post(f"/jobs-test/submit/{job_type}",
                         body=json.dumps({"Arguments": {"n": STEPS, "delay": 0.2, "tag": name}}))
    assert answer.status == 200, answer.text
    return str(answer.json()["ID"])


def start_jobs(server: Orthanc, records: Path) -> dict[str, str]:
    jobs = {"offloaded": submit(server, "Count", "offloaded"),
            "inline": submit(server, "CountInline", "inline")}
    wait_for(lambda: all(sum(done(records, n).values()) >= 8 for n in jobs), timeout=30,
             what="8 steps of each job")
    return jobs


def check_resumed(server: Orthanc, records: Path, jobs: dict[str, str], how: str) -> None:
    started = time.monotonic()
    for name, job_id in jobs.items():
        def ended(job_id: str = job_id) -> dict[str, Any] | None:
            try:
                answer = server.get(f"/jobs/{job_id}")
            except OSError:  # /tools/reset: Orthanc is restarting
                return None
            assert answer.status == 200, f"the job {job_id} was not restored: {answer.text}"
            found = dict(answer.json())
            return found if found["State"] in ("Success", "Failure") else None
        final = wait_for(ended, timeout=60, step=0.1, what=f"the {name} job's end")
        assert final["State"] == "Success", final
        assert final["Content"]["Output"] == {"counted": STEPS, "tag": name}
    took = time.monotonic() - started
    for name in jobs:
        counts = done(records, name)
        assert set(counts) == {str(i) for i in range(STEPS)}, f"{name}: steps missing"
        twice = sorted(int(k) for k, v in counts.items() if v > 1)
        print(f"{how}, {name} job: {STEPS} steps, done twice: {twice}; "
              f"finished {took:.1f} s after the start")
        assert sum(counts.values()) - STEPS <= 1, f"{name}: steps done twice: {twice}"


def _stop_mid_job_then_start(tmp_path: Path, how: str) -> None:
    records = tmp_path / "records"
    records.mkdir()
    folder = tmp_path / "orthanc"
    first = prepare(folder, SCRIPT, config(records))
    first.process.start(verbose=True)
    first.process.wait_ready(60)
    process = first.process.process
    assert process is not None
    jobs = start_jobs(first, records)
    stopped = time.monotonic()
    process.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGTERM)
    code = process.wait(30)
    exited = time.monotonic() - stopped
    before = {name: sum(done(records, name).values()) for name in jobs}
    print(f"\n{how}: Orthanc exited with {code} after {exited:.1f} s; steps done before: {before}")
    if how == "SIGTERM":
        assert code == 0, first.log()[-3000:]
        assert exited < 3 + 5  # ShutdownGrace + 5 s
    with running_orthanc(folder, SCRIPT, config(records)) as second:
        check_resumed(second, records, jobs, how)


@pytest.mark.integration
def test_sigterm_mid_job_then_a_start_resumes_both_jobs_from_their_checkpoint(tmp_path):
    _stop_mid_job_then_start(tmp_path, "SIGTERM")


@pytest.mark.integration
def test_kill_9_mid_job_then_a_start_resumes_both_jobs_from_their_checkpoint(tmp_path):
    _stop_mid_job_then_start(tmp_path, "kill -9")


@pytest.mark.integration
def test_tools_reset_mid_job_resumes_both_jobs_from_their_checkpoint(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config(records)) as orthanc:
        jobs = start_jobs(orthanc, records)
        assert orthanc.post("/tools/reset", "").status == 200
        print()
        check_resumed(orthanc, records, jobs, "POST /tools/reset")
