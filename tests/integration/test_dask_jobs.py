"""Offloaded jobs on the dask backend: steps on the cluster, reports on Dask's event channel."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from tests.harness import running_orthanc, scripts_dir, wait_for
from tests.integration.test_jobs import CANCELED_JOB, done_steps, info, submit, tag, wait_state
from tests.integration.test_recipes_study_export import INSTANCES, RECIPE
from tests.integration.test_recipes_study_export import study as make_study


def dask_pool(cluster) -> dict:
    return {"Backend": "dask", "Dask": {"Scheduler": cluster.address}}


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, dask_cluster):
    folder = tmp_path_factory.mktemp("dask-jobs")
    records = folder / "records"
    records.mkdir()
    config = {"JobsTestFolder": str(records), "ConcurrentJobs": 1,
              "PythonRuntime": {"Pool": dask_pool(dask_cluster)}}
    with running_orthanc(folder, scripts_dir() / "jobs_demo.py", config) as server:
        yield server


def records(server, name: str) -> list[list[str]]:
    path = Path(server.config["JobsTestFolder"]) / f"{name}.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def idle(server) -> bool:
    return server.get("/runtime/status").json()["pool"]["tasks"]["in_flight"] == 0


def test_a_job_runs_its_steps_on_a_cluster_worker_with_rising_progress(orthanc, dask_cluster):
    name = tag()
    job_id = submit(orthanc, "Count", n=6, delay=0.2, tag=name)
    seen: list[int] = []

    def finished():
        found = info(orthanc, job_id)
        seen.append(int(found["Progress"]))
        return found if found["State"] in ("Success", "Failure") else None

    final = wait_for(finished, timeout=30, step=0.05, what="the job's end")
    assert final["State"] == "Success", final
    assert final["Content"]["Output"] == {"counted": 6, "tag": name}
    assert final["Content"]["Offloaded"] is True
    assert seen == sorted(seen) and len({p for p in seen if 0 < p < 100}) >= 2, seen
    steps = records(orthanc, name)
    assert [s[0] for s in steps] == [str(i) for i in range(6)]
    assert {int(s[1]) for s in steps} <= set(dask_cluster.worker_pids())


def test_pause_then_resume_continues_from_the_checkpoint_on_the_cluster(orthanc):
    name = tag()
    job_id = submit(orthanc, "Count", n=10, delay=0.2, tag=name)
    wait_for(lambda: done_steps(orthanc, job_id) >= 2, what="two steps done")
    assert orthanc.post(f"/jobs/{job_id}/pause").status == 200
    wait_state(orthanc, job_id, "Paused")
    # The run hears "stop" at its next yield after the master answered one: a step later
    # than on the local pool.
    wait_for(lambda: idle(orthanc), what="the run ended")
    settled = len(records(orthanc, name))
    time.sleep(1.0)
    assert len(records(orthanc, name)) == settled < 10, "a paused job went on"
    assert orthanc.post(f"/jobs/{job_id}/resume").status == 200
    final = wait_state(orthanc, job_id, "Success", "Failure")
    assert final["State"] == "Success", final
    assert [s[0] for s in records(orthanc, name)] == [str(i) for i in range(10)], \
        "a step was done twice or skipped"


def test_cancel_ends_the_run_on_the_cluster(orthanc):
    name = tag()
    job_id = submit(orthanc, "Count", n=20, delay=0.2, tag=name)
    wait_for(lambda: done_steps(orthanc, job_id) >= 1, what="one step done")
    assert orthanc.post(f"/jobs/{job_id}/cancel").status == 200
    assert wait_state(orthanc, job_id, "Failure")["ErrorCode"] == CANCELED_JOB
    wait_for(lambda: idle(orthanc), what="the run ended")
    ended = len(records(orthanc, name))
    time.sleep(1.0)
    assert len(records(orthanc, name)) == ended < 20, "a canceled job went on"


def test_a_step_that_raises_fails_the_job_with_its_message(orthanc):
    job_id = submit(orthanc, "Fail", at=2)
    final = wait_state(orthanc, job_id, "Failure")
    assert "bad input at step 2" in final["Content"]["Error"]


def test_the_study_export_recipe_runs_on_the_cluster(tmp_path, dask_cluster):
    config = {"PythonRuntime": {"Pool": dask_pool(dask_cluster),
                                "Recipes": {"StudyExport": {"Folder": str(tmp_path / "exports")}}}}
    with running_orthanc(tmp_path / "o", RECIPE, config) as orthanc:
        study = make_study.__wrapped__(orthanc)
        answer = orthanc.post(f"/recipes/study-export/{study}")
        assert answer.status == 200, answer.text
        final = wait_state(orthanc, answer.json()["ID"], "Success", "Failure", timeout=60)
        assert final["State"] == "Success", final
        assert final["Content"]["Status"] == {"Instance": INSTANCES, "Of": INSTANCES}
        archive = orthanc.get(f"/recipes/study-export/{study}/archive")
        with zipfile.ZipFile(io.BytesIO(archive.body)) as packed:
            assert len(packed.namelist()) == INSTANCES
