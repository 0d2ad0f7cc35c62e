"""The worklists recipe: items from a folder (DICOM, keyword JSON, DICOM JSON model) or an
SQLite table, answered to findscu -W in a worker, and listed by GET /worklists."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from tests.harness import running_orthanc
from tests.integration.test_dicom_services import CLIENTS, Servers, final_status, find

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "worklists"


def dicom_item(folder: Path) -> None:
    """A worklist file as DCMTK's wlmscpfs reads them (.wl)."""
    step = pydicom.Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = "CT02"
    item = pydicom.Dataset()
    item.PatientID = "WL-DCM"
    item.PatientName = "FILE^DICOM"
    item.ScheduledProcedureStepSequence = [step]
    item.file_meta = pydicom.dataset.FileMetaDataset()
    item.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    item.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
    item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    item.save_as(folder / "dicom.wl", enforce_file_format=True)


def test_worklists_from_a_folder(tmp_path):
    folder = tmp_path / "worklists"
    shutil.copytree(EXAMPLES, folder)  # keyword JSON: WL-001 (CT), WL-002 (MR)
    dicom_item(folder)
    model = pydicom.Dataset()
    model.PatientID = "WL-MODEL"
    model.PatientName = "JSON^MODEL"
    step = pydicom.Dataset()
    step.Modality = "MR"
    model.ScheduledProcedureStepSequence = [step]
    (folder / "model.json").write_text(json.dumps(model.to_json_dict()))
    (folder / "broken.json").write_text("{not json")
    config = {"DicomModalities": CLIENTS, "PythonRuntime": {"Recipes": {"Worklists": {
        "Enabled": True, "Folder": "worklists"}}}}  # relative to the configuration file
    shutil.copytree(folder, tmp_path / "orthanc" / "worklists")
    with running_orthanc(tmp_path / "orthanc", None, config, name="SCP") as orthanc:
        servers = Servers(orthanc, orthanc, tmp_path, offloaded=True)
        output, answers = find(servers, "ScheduledProcedureStepSequence[0].Modality=CT",
                               "PatientID", "PatientName", worklist=True)
        assert final_status(output) == "Success"
        assert sorted(str(a.PatientID) for a in answers) == ["WL-001", "WL-DCM"]
        output, answers = find(servers, "ScheduledProcedureStepSequence[0].Modality=MR",
                               "PatientID", worklist=True)
        assert sorted(str(a.PatientID) for a in answers) == ["WL-002", "WL-MODEL"]
        output, answers = find(servers, "PatientName=DOE*", "AccessionNumber", worklist=True)
        assert [a.AccessionNumber for a in answers] == ["ACC-001"]
        orthanc.wait_for_log("broken.json is skipped: JSONDecodeError")
        listed = orthanc.get("/worklists")
        assert listed.status == 200
        assert sorted(i["00100020"]["Value"][0] for i in listed.json()) == \
            ["WL-001", "WL-002", "WL-DCM", "WL-MODEL"]


def test_worklists_from_an_sqlite_table(tmp_path):
    database = tmp_path / "ris.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute('CREATE TABLE orders (PatientID TEXT, PatientName TEXT, '
                           '"ScheduledProcedureStepSequence.Modality" TEXT, '
                           '"ScheduledProcedureStepSequence.ScheduledStationAETitle" TEXT)')
        connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                               [("SQL-1", "ROW^ONE", "CT", "CT01"), ("SQL-2", "ROW^TWO", "US", None)])
    config = {"DicomModalities": CLIENTS, "PythonRuntime": {"Recipes": {"Worklists": {
        "Enabled": True, "Database": str(database), "Table": "orders"}}}}
    with running_orthanc(tmp_path / "orthanc", None, config, name="SCP") as orthanc:
        servers = Servers(orthanc, orthanc, tmp_path, offloaded=True)
        output, answers = find(servers, "ScheduledProcedureStepSequence[0].Modality=US",
                               "PatientID", "PatientName", worklist=True)
        assert final_status(output) == "Success"
        assert [(str(a.PatientID), str(a.PatientName)) for a in answers] == [("SQL-2", "ROW^TWO")]


def test_worklists_without_their_source_fail_the_query_and_say_why(tmp_path):
    config = {"DicomModalities": CLIENTS, "PythonRuntime": {"Recipes": {"Worklists": {
        "Enabled": True, "Folder": str(tmp_path / "nowhere")}}}}
    with running_orthanc(tmp_path / "orthanc", None, config, name="SCP") as orthanc:
        servers = Servers(orthanc, orthanc, tmp_path, offloaded=True)
        output, answers = find(servers, "PatientID", worklist=True)
        assert final_status(output).startswith("Failed") and answers == []
        orthanc.wait_for_log(f"the worklist folder {tmp_path / 'nowhere'} does not exist")
        assert orthanc.get("/worklists").status == 500
