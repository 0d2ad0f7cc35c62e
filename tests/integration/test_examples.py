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
