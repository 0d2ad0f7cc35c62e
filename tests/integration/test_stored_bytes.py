"""An offloaded on-stored-instance handler gets the instance's bytes with its event.

Orthanc hands the master the DICOM file at ingest; the event takes it to the
worker, which then makes no GetDicomForInstance call back. An event read again
from the change log after a restart has no bytes with it: the worker reads them
from Orthanc, as before.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "stored_bytes.py"
FILE = "rtplan.dcm"

pytestmark = pytest.mark.integration


def config(folder: Path) -> dict[str, object]:
    return {"StoredBytesFolder": str(folder),
            "PythonRuntime": {"Pool": {"Workers": 1, "ShutdownGrace": 2}}}


def recorded(folder: Path, instance: str) -> dict[str, object]:
    path = folder / f"stored-{instance}"
    return json.loads(wait_for(lambda: path.exists() and path.read_text(), timeout=60))


def expected() -> tuple[int, str]:
    data = (PYDICOM_FILES / FILE).read_bytes()
    return len(data), hashlib.sha1(data).hexdigest()


def test_a_live_offloaded_stored_instance_event_brings_its_bytes(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config(records)) as orthanc:
        uploaded = orthanc.upload(FILE)
        record = recorded(records, uploaded["ID"])
        assert (record["size"], record["sha1"]) == expected()
        assert record["carried"] is True
        assert orthanc.get("/stored-bytes/served").json() == {"GetDicomForInstance": 0}


def test_an_event_delivered_again_after_a_restart_reads_its_bytes_from_orthanc(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    hold = records / "hold"
    hold.touch()
    folder = tmp_path / "orthanc"
    with running_orthanc(folder, SCRIPT, config(records)) as orthanc:
        uploaded = orthanc.upload(FILE)
        wait_for(lambda: (records / f"started-{uploaded['ID']}").exists(), timeout=60)
    # Stopped while the handler held the change: its checkpoint stayed before it.
    hold.unlink()
    with running_orthanc(folder, SCRIPT, config(records)) as orthanc:
        record = recorded(records, uploaded["ID"])
        assert (record["size"], record["sha1"]) == expected()
        assert record["carried"] is False
        assert orthanc.get("/stored-bytes/served").json() == {"GetDicomForInstance": 1}
