"""The DICOM services of a script written for the official plugin
(tests/scripts/dicom_services_compat.py: RegisterFindCallback, RegisterWorklistCallback,
RegisterMoveCallback2, RegisterStorageCommitmentScpCallback,
RegisterIncomingCStoreInstanceFilter) run unchanged, against DCMTK's clients."""

from __future__ import annotations

from collections.abc import Iterator

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.harness import running_orthanc, scripts_dir
from tests.integration.test_dicom_services import (
    CLIENTS,
    CT_IMAGE_STORAGE,
    Servers,
    final_status,
    find,
    move,
    store,
    stored,
    variant,
)

SCRIPT = scripts_dir() / "dicom_services_compat.py"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("scp-compat")
    worklists = folder / "worklists"
    worklists.mkdir()
    for patient, modality in (("W1", "CT"), ("W2", "MR")):
        step = pydicom.Dataset()
        step.Modality = modality
        step.ScheduledStationAETitle = "SCANNER"
        item = pydicom.Dataset()
        item.PatientID = patient
        item.PatientName = f"WL^{patient}"
        item.ScheduledProcedureStepSequence = [step]
        item.file_meta = pydicom.dataset.FileMetaDataset()
        item.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        item.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
        item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        item.save_as(worklists / f"{patient}.wl", enforce_file_format=True)
    with running_orthanc(folder / "peer", None, name="PEER") as peer, \
            running_orthanc(folder / "scp", SCRIPT, {"DicomModalities": CLIENTS,
                                                     "TestWorklists": str(worklists)},
                            name="SCP", script_key="PythonScript") as scp:
        assert scp.put("/modalities/peer", f'["PEER", "127.0.0.1", {peer.dicom_port}]').status == 200
        assert peer.put("/modalities/scp", f'["SCP", "127.0.0.1", {scp.dicom_port}]').status == 200
        yield Servers(scp, peer, folder, offloaded=False)


def test_find_callback_answers_with_create_dicom(servers):
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID", "PatientName")
    assert final_status(output) == "Success"
    assert sorted(str(a.PatientName) for a in answers) == ["COMPAT^C1", "COMPAT^C2"]


def test_find_callback_that_raises_fails_the_query(servers):
    output, _ = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=RAISE")
    assert final_status(output).startswith("Failed")
    servers.scp.wait_for_log("asked to fail")


def test_worklist_callback_answers_the_matching_files(servers):
    output, answers = find(servers, "ScheduledProcedureStepSequence[0].Modality=MR", "PatientID",
                           worklist=True)
    assert final_status(output) == "Success"
    assert [str(a.PatientID) for a in answers] == ["W2"]


def test_move_callback2_sends_and_counts_each_sub_operation(servers):
    study_uid = generate_uid()
    for _ in range(2):
        servers.scp.upload(variant(servers, "CT_small.dcm", StudyInstanceUID=study_uid))
    status, output = move(servers, study_uid)
    assert status == 0, output
    assert "Completed Suboperations       : 2" in output
    assert len(servers.peer.post("/tools/find", f'{{"Level": "Instance", "Query": '
                                 f'{{"StudyInstanceUID": "{study_uid}"}}}}').json()) == 2
    servers.scp.wait_for_log("C-MOVE done: 2 of 2 sent")


def test_storage_commitment_callbacks_answer_each_instance(servers):
    path = variant(servers, "CT_small.dcm")
    servers.scp.upload(path)
    kept, missing = pydicom.dcmread(path).SOPInstanceUID, generate_uid()
    body = (f'{{"DicomInstances": [["{CT_IMAGE_STORAGE}", "{kept}"], '
            f'["{CT_IMAGE_STORAGE}", "{missing}"]]}}')
    answer = servers.peer.post("/modalities/scp/storage-commitment", body)
    assert answer.status == 200, answer.text
    report = servers.peer.wait_for(
        lambda: (r := servers.peer.get(answer.json()["Path"]).json())["Status"] != "Pending" and r)
    assert [s["SOPInstanceUID"] for s in report["Success"]] == [kept]
    assert [(f["SOPInstanceUID"], f["FailureReason"]) for f in report["Failures"]] == \
        [(missing, 0x0112)]


def test_cstore_instance_filter_refuses_with_its_status(servers):
    status, uid = store(servers, variant(servers, "CT_small.dcm", PatientID="REFUSE-1"))
    assert status == 0xA900 and not stored(servers, uid)
    status, uid = store(servers, variant(servers, "CT_small.dcm", PatientID="OK-1"))
    assert status == 0 and stored(servers, uid)
