"""The README's example runs as printed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.harness import PYDICOM_FILES, running_orthanc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_readme_hello_example(tmp_path):
    with running_orthanc(tmp_path, EXAMPLES / "hello.py") as orthanc:
        assert orthanc.get("/hello/world").json() == {"hello": "world", "instances": 0}
        uploaded = orthanc.upload("CT_small.dcm")
        answer = orthanc.get(f"/checksum/{uploaded['ID']}").json()
        expected = hashlib.sha256((PYDICOM_FILES / "CT_small.dcm").read_bytes()).hexdigest()
        assert answer == {"sha256": expected}
        assert orthanc.get("/checksum/not-an-id").status == 404
