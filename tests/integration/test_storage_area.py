"""A storage area written in Python, against a real Orthanc: store, read, delete, restart, fail."""

from __future__ import annotations

from pathlib import Path

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir

SCRIPT = scripts_dir() / "storage_area.py"


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "refuse")


def test_orthanc_stores_reads_and_deletes_through_python_and_keeps_it_across_a_restart(tmp_path):
    area = tmp_path / "area"
    area.mkdir()
    config = {"StorageAreaTestFolder": str(area)}
    original = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config) as orthanc:
        instance = orthanc.upload("CT_small.dcm")
        stored = files(area)
        assert stored and any(p.read_bytes() == original for p in stored)
        assert orthanc.get(f"/instances/{instance}/file").body == original
        kept = orthanc.upload("MR_small.dcm")
    # Orthanc's own storage folder holds no DICOM file: they are all in the area
    assert not [p for p in (tmp_path / "orthanc" / "storage").rglob("*")
                if p.is_file() and p.stat().st_size == len(original)]
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config) as orthanc:
        assert orthanc.get(f"/instances/{instance}/file").body == original
        assert orthanc.delete(f"/instances/{instance}").status == 200
        assert not any(p.read_bytes() == original for p in files(area))
        assert orthanc.get(f"/instances/{kept}/file").status == 200


def test_a_failing_write_fails_that_upload_cleanly_and_not_the_others(tmp_path):
    area = tmp_path / "area"
    area.mkdir()
    with running_orthanc(tmp_path / "orthanc", SCRIPT, {"StorageAreaTestFolder": str(area)},
                         ) as orthanc:
        first = orthanc.upload("CT_small.dcm")
        before = files(area)
        (area / "refuse").touch()
        answer = orthanc.post("/instances", (PYDICOM_FILES / "MR_small.dcm").read_bytes())
        assert answer.status >= 400
        assert files(area) == before  # nothing half-written
        assert len(orthanc.get("/instances").json()) == 1
        assert "the disk is full (the test says so)" in orthanc.log()
        (area / "refuse").unlink()
        assert orthanc.get(f"/instances/{first}/file").status == 200
        orthanc.upload("MR_small.dcm")
        assert len(orthanc.get("/instances").json()) == 2


def test_an_offloaded_storage_area_compresses_in_workers(tmp_path):
    import zlib

    area = tmp_path / "area"
    area.mkdir()
    config = {"StorageAreaTestFolder": str(area)}
    original = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    script = scripts_dir() / "storage_area_offloaded.py"
    with running_orthanc(tmp_path / "orthanc", script, config) as orthanc:
        instance = orthanc.upload("CT_small.dcm")
        compressed = [p for p in area.glob("*.1.z")]
        assert len(compressed) == 1 and zlib.decompress(compressed[0].read_bytes()) == original
        writer = int(compressed[0].with_suffix(".pid").read_text())
        workers = {c.pid for c in orthanc.children()}
        assert writer != orthanc.process.process.pid and writer in workers
        assert orthanc.get(f"/instances/{instance}/file").body == original
    with running_orthanc(tmp_path / "orthanc", script, config) as orthanc:
        assert orthanc.get(f"/instances/{instance}/file").body == original
        assert orthanc.delete(f"/instances/{instance}").status == 200
        assert not list(area.glob("*.1.z"))
