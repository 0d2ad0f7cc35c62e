"""The study export recipe in a real Orthanc: a job per study, one instance a step, a ZIP at the end."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from tests.harness import PYDICOM_FILES, running_orthanc, wait_for

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "study_export.py"
UNKNOWN = "01234567-89abcdef-01234567-89abcdef-01234567"
INSTANCES = 6


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    config = {"PythonRuntime": {"Pool": {"Workers": 2},
                                "Recipes": {"StudyExport": {"Folder": str(folder / "exports")}}}}
    with running_orthanc(folder, RECIPE, config) as server:
        yield server


@pytest.fixture(scope="module")
def study(orthanc) -> str:
    template = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    template.StudyInstanceUID = generate_uid()
    study_id = ""
    for _ in range(INSTANCES):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        buffer = io.BytesIO()
        template.save_as(buffer)
        answer = orthanc.post("/instances", buffer.getvalue())
        assert answer.status == 200
        study_id = answer.json()["ParentStudy"]
    return study_id


def test_an_export_is_a_job_with_progress_per_instance_and_its_archive_has_every_preview(orthanc, study):
    answer = orthanc.post(f"/recipes/study-export/{study}")
    assert answer.status == 200, answer.text
    job_id = answer.json()["ID"]
    states: list[tuple[int, Any]] = []

    def ended() -> dict[str, Any] | None:
        found = dict(orthanc.get(f"/jobs/{job_id}").json())
        states.append((found["Progress"], (found["Content"].get("Status") or {}).get("Instance")))
        return found if found["State"] in ("Success", "Failure") else None

    final = wait_for(ended, timeout=60, step=0.02, what="the export's end")
    assert final["State"] == "Success", final
    assert final["Type"] == "StudyExport"
    assert final["Content"]["Output"]["Instances"] == INSTANCES
    assert [p for p, _ in states] == sorted(p for p, _ in states)
    assert final["Content"]["Status"] == {"Instance": INSTANCES, "Of": INSTANCES}
    archive = orthanc.get(f"/recipes/study-export/{study}/archive")
    assert archive.status == 200
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.body)) as packed:
        names = packed.namelist()
        assert len(names) == INSTANCES and all(n.endswith(".png") for n in names)
        assert sorted(names) == names and names[0].startswith("00001-")
        image = Image.open(io.BytesIO(packed.read(names[0])))
        assert image.format == "PNG" and image.size == (128, 128)


def test_an_unknown_study_answers_404_and_submits_nothing(orthanc):
    before = set(orthanc.get("/jobs").json())
    answer = orthanc.post(f"/recipes/study-export/{UNKNOWN}")
    assert answer.status == 404
    assert set(orthanc.get("/jobs").json()) == before


def test_a_bad_identifier_answers_400(orthanc):
    assert orthanc.post("/recipes/study-export/not-an-id").status == 400
    assert orthanc.get("/recipes/study-export/not-an-id/archive").status == 400


def test_the_archive_of_a_study_never_exported_answers_404(orthanc):
    assert orthanc.get(f"/recipes/study-export/{UNKNOWN}/archive").status == 404
