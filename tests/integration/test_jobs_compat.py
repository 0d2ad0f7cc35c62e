"""orthanc.CreateJob / SubmitJob / RegisterJobsUnserializer (the SDK's style) in a real Orthanc."""

from __future__ import annotations

from typing import Any

from tests.harness import Orthanc, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "jobs_compat.py"
PAUSED = 2  # OrthancPluginJobStopReason


def wait_state(server: Orthanc, job_id: str, *states: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = dict(server.get(f"/jobs/{job_id}").json())
        return found if found["State"] in states else None
    return dict(wait_for(reached, timeout=30, step=0.05, what=f"job in {states}"))


def test_a_job_of_callbacks_runs_pauses_resumes_and_survives_a_restart(tmp_path):
    folder = tmp_path / "orthanc"
    config = {"SaveJobs": True}
    with running_orthanc(folder, SCRIPT, config) as orthanc:
        job_id = orthanc.get("/compat-jobs/submit?n=8").json()["ID"]
        final = wait_state(orthanc, job_id, "Success", "Failure")
        assert final["State"] == "Success" and final["Type"] == "CompatCount"
        assert final["Content"]["done"] == 8 and final["Progress"] == 100

        job_id = orthanc.get("/compat-jobs/submit?n=30").json()["ID"]
        wait_for(lambda: orthanc.get(f"/jobs/{job_id}").json()["Content"]["done"] >= 2)
        assert orthanc.post(f"/jobs/{job_id}/pause").status == 200
        wait_state(orthanc, job_id, "Paused")
        assert orthanc.post(f"/jobs/{job_id}/resume").status == 200
        wait_for(lambda: orthanc.get(f"/jobs/{job_id}").json()["Content"]["stops"] == [PAUSED])
        at_stop = orthanc.get(f"/jobs/{job_id}").json()["Content"]["done"]
        assert at_stop < 30
    # SIGTERM above, mid-job: Orthanc saved it, the script's unserializer brings it back.
    with running_orthanc(folder, SCRIPT, config) as orthanc:
        final = wait_state(orthanc, job_id, "Success", "Failure")
        assert final["State"] == "Success", final
        assert final["Content"]["done"] == 30
        # A new object, never paused (Orthanc reads the content after the last step, before
        # it stops the job).
        assert final["Content"]["stops"] == []
