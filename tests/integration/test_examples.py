"""The README's example runs as printed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.harness import PYDICOM_FILES, running_orthanc, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_readme_hello_example(tmp_path):
    with running_orthanc(tmp_path, EXAMPLES / "hello.py") as orthanc:
        assert orthanc.get("/hello/world").json() == {"hello": "world", "instances": 0}
        uploaded = orthanc.upload("CT_small.dcm")
        answer = orthanc.get(f"/checksum/{uploaded['ID']}").json()
        expected = hashlib.sha256((PYDICOM_FILES / "CT_small.dcm").read_bytes()).hexdigest()
        assert answer == {"sha256": expected}
        assert orthanc.get("/checksum/not-an-id").status == 404


def test_readme_job_example(tmp_path):
    with running_orthanc(tmp_path, EXAMPLES / "export_job.py") as orthanc:
        study = orthanc.upload("CT_small.dcm")["ParentStudy"]
        answer = orthanc.post(f"/export/{study}")
        assert answer.status == 200, answer.text()
        job_id = answer.json()["job"]

        def ended() -> dict | None:
            found = orthanc.get(f"/jobs/{job_id}").json()
            return found if found["State"] in ("Success", "Failure") else None

        final = wait_for(ended, timeout=30, what="the job's end")
        assert final["State"] == "Success" and final["Type"] == "ExportStudy"
        assert final["Priority"] == 5
        assert final["Content"]["Output"] == {"instances": 1}
        assert final["Content"]["Status"] == {"done": 1}
