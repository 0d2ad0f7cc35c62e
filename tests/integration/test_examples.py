"""The README's example runs as printed, tested the way the README tells script authors to."""

from __future__ import annotations

import hashlib
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_readme_hello_example(orthanc_factory, dicom_files):
    orthanc = orthanc_factory(EXAMPLES / "hello.py")
    assert orthanc.get("/hello/world").json() == {"hello": "world", "instances": 0}
    instance = orthanc.upload(dicom_files / "CT_small.dcm")
    answer = orthanc.get(f"/checksum/{instance}").json()
    expected = hashlib.sha256((dicom_files / "CT_small.dcm").read_bytes()).hexdigest()
    assert answer == {"sha256": expected}
    assert orthanc.get("/checksum/not-an-id").status == 404


def test_readme_job_example(orthanc_factory, dicom_files):
    orthanc = orthanc_factory(EXAMPLES / "export_job.py")
    study = orthanc.upload(dicom_files / "CT_small.dcm")["ParentStudy"]
    answer = orthanc.post(f"/export/{study}")
    assert answer.status == 200, answer.text
    job_id = answer.json()["job"]

    def ended() -> dict | None:
        found = orthanc.get(f"/jobs/{job_id}").json()
        return found if found["State"] in ("Success", "Failure") else None

    final = orthanc.wait_for(ended, timeout=30, what="the job's end")
    assert final["State"] == "Success" and final["Type"] == "ExportStudy"
    assert final["Priority"] == 5
    assert final["Content"]["Output"] == {"instances": 1}
    assert final["Content"]["Status"] == {"done": 1}


def test_the_hello_transcript_is_what_orthanc_answers(orthanc_factory):
    """docs/samples/hello.console, the README's `curl` under the example: each `$ curl URL` line
    is requested (in Python: the Debian roots have no curl) and answers the line below it."""
    import json

    transcript = (EXAMPLES.parent / "docs" / "samples" / "hello.console").read_text().splitlines()
    orthanc = orthanc_factory(EXAMPLES / "hello.py")
    pairs = [(line, transcript[i + 1]) for i, line in enumerate(transcript) if line.startswith("$ curl ")]
    assert pairs
    for command, expected in pairs:
        path = command.split("http://localhost:8042", 1)[1]
        assert orthanc.get(path).json() == json.loads(expected)


def test_the_guides_test_file_passes_beside_hello(tmp_path):
    """docs/samples/test_hello.py, the guide's test of hello.py, passes as printed, run by pytest
    in a folder of its own, the fixtures coming from the installed pytest plugin."""
    import shutil
    import subprocess
    import sys

    shutil.copy(EXAMPLES / "hello.py", tmp_path / "hello.py")
    shutil.copy(EXAMPLES.parent / "docs" / "samples" / "test_hello.py", tmp_path / "test_hello.py")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_hello.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_api_pages_samples_load_and_stream_the_export(orthanc_factory, dicom_files):
    """docs/samples/api_imports.py (the API page's import line) and api_export.py (its streamed
    export) loaded together in a real Orthanc: every name imports, and the export answers one
    CSV row an instance."""
    samples = EXAMPLES.parent / "docs" / "samples"
    orthanc = orthanc_factory(samples / "api_export.py",
                              {"PythonRuntime": {"Scripts": [str(samples / "api_imports.py")]}})
    instance = orthanc.upload(dicom_files / "CT_small.dcm")
    uid = orthanc.get(f"/instances/{instance}/simplified-tags").json()["SOPInstanceUID"]
    size = orthanc.get(f"/instances/{instance}").json()["FileSize"]
    answer = orthanc.get(f"/export/{instance['ParentStudy']}")
    assert answer.status == 200, answer.text
    assert answer.text == f"SOPInstanceUID,Size\n{uid},{size}\n"
    assert orthanc.get("/export/not-an-id").status == 404
