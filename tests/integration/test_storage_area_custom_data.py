"""The official plugin 7.1's `RegisterStorageArea3`: a storage area whose files carry custom data.

On Orthanc 1.12.8 and newer, what `create` answers is kept by Orthanc with the attachment and
handed back to each range read and to the removal (the script `tiered_storage.py` finds its
files only through it). On an older Orthanc the script's registration raises OrthancException
naming the version it needs, and Orthanc does not start with a storage area it cannot have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.harness import (
    OFFICIAL_API,
    PYDICOM_FILES,
    official_orthanc,
    orthanc_version,
    start_failure,
    stop_and_check,
)

SCRIPT = "tiered_storage.py"
DICOM_FILE = PYDICOM_FILES / "CT_small.dcm"


def settings(folder: Path) -> dict[str, Any]:
    return {"TieredStorage": {"Folder": str(folder / "tiers"), "Journal": str(folder / "journal")}}


def journal(folder: Path) -> list[dict[str, Any]]:
    path = folder / "journal"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


HAS_STORAGE_AREA3 = orthanc_version() >= (1, 12, 8)


def test_register_storage_area3_is_refused_naming_the_version_where_orthanc_lacks_it(
        tmp_path: Path) -> None:
    """On Orthanc 1.12.8 and newer the registration works (the server starts and serves its
    system route); on an older one the script fails, naming the version it needs, and Orthanc
    does not start with a storage area it cannot have."""
    if HAS_STORAGE_AREA3:
        with official_orthanc(tmp_path, [SCRIPT], settings(tmp_path)) as server:
            assert server.get("/system").status == 200
        return
    code, log = start_failure(tmp_path, OFFICIAL_API / SCRIPT, settings(tmp_path),
                              script_key="PythonScript")
    assert code != 0
    assert "RegisterStorageArea3 needs Orthanc 1.12.8 or newer; this is Orthanc" in log, log[-3000:]
    assert not (tmp_path / "journal").exists()


def test_custom_data_written_by_create_comes_back_to_read_and_remove(
        tmp_path: Path) -> None:
    """Where Orthanc has RegisterStorageArea3; where it has not, the test above checks the
    refusal and this one checks that the same script, refused, stored nothing."""
    if not HAS_STORAGE_AREA3:
        start_failure(tmp_path, OFFICIAL_API / SCRIPT, settings(tmp_path), script_key="PythonScript")
        assert not (tmp_path / "tiers").exists() and not (tmp_path / "journal").exists()
        return
    original = DICOM_FILE.read_bytes()
    with official_orthanc(tmp_path, [SCRIPT], settings(tmp_path)) as server:
        stored = server.post("/instances", original)
        assert stored.status == 200, stored.text
        instance = stored.json()["ID"]
        created = [e for e in journal(tmp_path) if e["op"] == "create"]
        dicom = [e for e in created if e["type"] == 1]
        assert len(dicom) == 1, created
        custom = json.loads(dicom[0]["custom"])
        # the file lies where the custom data says, and only the custom data says it
        assert (tmp_path / "tiers" / custom["path"]).read_bytes() == original
        assert dicom[0]["instance_size"] == len(original)  # the DicomInstance being stored

        assert server.get(f"/instances/{instance}/file").body == original  # maybe from a cache
        stop_and_check(server)

    # Orthanc keeps the custom data in its database: after a restart (nothing cached), reading
    # the file goes through read, with the custom data create answered.
    with official_orthanc(tmp_path, [SCRIPT], settings(tmp_path)) as server:
        assert server.get(f"/instances/{instance}/file").body == original
        reads = [e for e in journal(tmp_path) if e["op"] == "read" and e["uuid"] == dicom[0]["uuid"]]
        assert reads and all(e["custom"] == dicom[0]["custom"] for e in reads), journal(tmp_path)
        assert sum(e["size"] for e in reads) >= len(original)
        assert server.delete(f"/instances/{instance}").status == 200
        removed = [e for e in journal(tmp_path) if e["op"] == "remove"]
        assert dicom[0]["uuid"] in {e["uuid"] for e in removed}
        assert all(e["custom"] == next(c["custom"] for c in created if c["uuid"] == e["uuid"])
                   for e in removed)
        assert not (tmp_path / "tiers" / custom["path"]).exists()
