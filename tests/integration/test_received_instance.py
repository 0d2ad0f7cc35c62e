"""Received-instance handlers against a real Orthanc: modified, kept, discarded, failing closed."""

from __future__ import annotations

import io

import pydicom
import pytest

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir


def instance(patient_id: str) -> bytes:
    dataset = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    dataset.PatientID = patient_id
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def stored(orthanc, patient_id: str) -> pydicom.Dataset | None:
    answer = orthanc.post("/instances", instance(patient_id))
    if answer.status != 200 or answer.json().get("Status") != "Success":
        return None
    data = orthanc.get(f"/instances/{answer.json()['ID']}/file").body
    return pydicom.dcmread(io.BytesIO(data))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    config = {"PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path_factory.mktemp("received"), scripts_dir() / "received.py",
                         config) as server:
        yield server


def test_a_modified_dataset_is_stored_modified(orthanc):
    dataset = stored(orthanc, "P1")
    assert dataset is not None
    assert str(dataset.PatientName) == "COMPRESSEDSAMPLES^CT1"
    assert dataset.InstitutionName == "MODIFIED FROM REST_API"


def test_none_keeps_the_instance_as_it_came(orthanc):
    dataset = stored(orthanc, "KEEP-1")
    assert dataset is not None and str(dataset.PatientName) == "CompressedSamples^CT1"


def test_discard_stores_nothing(orthanc):
    before = len(orthanc.get("/instances").json())
    answer = orthanc.post("/instances", instance("DISCARD-1"))
    assert answer.status != 200 or answer.json().get("Status") != "Success"
    assert len(orthanc.get("/instances").json()) == before


def test_a_handler_that_raises_or_answers_junk_discards_and_logs(orthanc):
    before = len(orthanc.get("/instances").json())
    assert stored(orthanc, "RAISE-1") is None
    assert stored(orthanc, "WRONG-1") is None
    assert len(orthanc.get("/instances").json()) == before
    log = orthanc.log()
    assert "received.gate (received instance): the instance is discarded" in log
    assert "this instance cannot be read" in log
    assert "returned dict, not None, bytes, a pydicom Dataset or DISCARD" in log


def test_a_second_handler_is_refused_at_start_naming_both(tmp_path):
    from tests.harness import start_failure

    script = tmp_path / "two.py"
    script.write_text("from runtime import on_received_instance\n\n"
                      "@on_received_instance\ndef first(r):\n    return None\n\n"
                      "@on_received_instance\ndef second(r):\n    return None\n")
    code, log = start_failure(tmp_path / "run", script)
    assert code != 0
    assert "Orthanc allows one received-instance handler: two.first" in log
    assert "cannot add two.second" in log


def test_the_official_plugins_callback_runs_unchanged(tmp_path):
    with running_orthanc(tmp_path, scripts_dir() / "received_compat.py") as orthanc:
        dataset = stored(orthanc, "P2")
        assert dataset is not None and dataset.InstitutionName == "COMPAT"
        kept = stored(orthanc, "KEEP-2")
        assert kept is not None and kept.get("InstitutionName") != "COMPAT"
        assert stored(orthanc, "DISCARD-2") is None
