"""The project's own DICOM-network scripts for the official plugin's API run on ours.

Each ``tests/scripts/official_api/dicom_*.py`` is a plain ``import orthanc`` script,
written for this project as a PACS integrator would write it: a gateway that answers
C-FIND from an archive's index and queues C-MOVE requests, a worklist SCP reading a
RIS's files, a C-STORE filter keeping only some modalities, and a storage commitment
SCP with an audit trail. Each runs in a real Orthanc with this plugin as the official
plugin would run it (``tests.harness.official_orthanc``), driven by DCMTK's findscu,
movescu and storescu, or by a second Orthanc asking for a storage commitment, and each
test checks what a DICOM peer observes: the answers' tags, the move request as the
script saw it, the worklist items that match, the status of a refused C-STORE with
nothing stored, and the commitment report the second Orthanc receives.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from tests.harness import (
    OFFICIAL_API,
    PYDICOM_FILES,
    Orthanc,
    official_orthanc,
    running_orthanc,
    stop_and_check,
    wait_for,
)

# Orthanc answers C-FIND, worklist and C-MOVE requests of AETs it does not know.
ANY_SCU = {"DicomAlwaysAllowFind": True, "DicomAlwaysAllowFindWorklist": True,
           "DicomAlwaysAllowMove": True}


def dcmtk(*args: str | Path | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


def received(folder: Path) -> list[Dataset]:
    """The answers findscu -X wrote in ``folder``, in order."""
    return [pydicom.dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]


# -- dicom_archive_gateway.py: C-FIND and C-MOVE ------------------------------------------------

@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Path]]:
    folder = tmp_path_factory.mktemp("archive-gateway")
    queue = folder / "transfers.jsonl"
    with official_orthanc(folder, ["dicom_archive_gateway.py"],
                          {**ANY_SCU, "ArchiveTransferQueue": str(queue)}) as server:
        yield server, queue


def test_cfind_studies_answered_from_the_archive_index(gateway, tmp_path):
    server, _ = gateway
    found = dcmtk("findscu", "-S", "-aet", "WARD_VIEWER", "-k", "QueryRetrieveLevel=STUDY",
                  "-k", "PatientName=KO*", "-k", "StudyDate=20190101-", "-k", "StudyDescription",
                  "-k", "StudyInstanceUID", "-X", "-od", tmp_path, "127.0.0.1", server.dicom_port)
    assert found.returncode == 0, found.stderr
    got = {a.StudyInstanceUID: a for a in received(tmp_path)}
    # KOWALSKI's 2018 study is before the date range; KOVACS's 2020 study is in it.
    assert sorted(got) == ["1.2.826.0.1.3680043.8.498.101", "1.2.826.0.1.3680043.8.498.102"]
    assert got["1.2.826.0.1.3680043.8.498.101"].StudyDescription == "CHEST CT LOW DOSE"
    assert str(got["1.2.826.0.1.3680043.8.498.102"].PatientName) == "KOVACS^BELA"
    assert all(a.QueryRetrieveLevel == "STUDY" for a in got.values())
    log = server.wait_for_log("archive index: 2 STUDY record(s) sent to WARD_VIEWER")
    # The script saw each tag of the query with its name, group, element and value.
    assert "PatientName [0010,0010] 'KO*'" in log
    assert "StudyDate [0008,0020] '20190101-'" in log
    assert "StudyDescription [0008,1030] ''" in log


def test_cfind_patients_answered_once_each(gateway, tmp_path):
    server, _ = gateway
    found = dcmtk("findscu", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=A-*",
                  "-k", "PatientName", "-k", "PatientBirthDate", "-X", "-od", tmp_path,
                  "127.0.0.1", server.dicom_port)
    assert found.returncode == 0, found.stderr
    [patient] = received(tmp_path)
    assert (patient.PatientID, str(patient.PatientName), patient.PatientBirthDate) == \
        ("A-7731", "KOWALSKI^ANNA", "19610402")


def test_cmove_request_queued_as_the_script_saw_it(gateway):
    server, queue = gateway
    moved = dcmtk("movescu", "127.0.0.1", server.dicom_port, "-aet", "WARD_VIEWER",
                  "-aec", "ARCHIVE_GW", "-aem", "WARD_STORE", "-S",
                  "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.826.0.1.3680043.8.498.100")
    assert moved.returncode == 0, moved.stderr
    [line] = queue.read_text().splitlines()
    assert json.loads(line) == {
        "study": "1.2.826.0.1.3680043.8.498.100", "deliverTo": "WARD_STORE",
        "request": {"AccessionNumber": "", "Level": "STUDY", "OriginatorAET": "WARD_VIEWER",
                    "OriginatorID": 1, "PatientID": "", "SOPInstanceUID": "",
                    "SeriesInstanceUID": "", "SourceAET": "ARCHIVE_GW",
                    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.100",
                    "TargetAET": "WARD_STORE"}}



def test_cmove_of_a_study_not_in_the_index_fails_and_queues_nothing(tmp_path):
    # Its own server: the refusal is an exception, which Orthanc's log shows with its traceback.
    queue = tmp_path / "transfers.jsonl"
    with official_orthanc(tmp_path, ["dicom_archive_gateway.py"],
                          {**ANY_SCU, "ArchiveTransferQueue": str(queue)}) as server:
        moved = dcmtk("movescu", "-v", "127.0.0.1", server.dicom_port, "-aem", "WARD_STORE", "-S",
                      "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3.999")
        assert moved.returncode == 68, moved.stderr  # movescu: the C-MOVE ended with failures
        assert "Final Move Response (Warning: SubOperationsCompleteOneOrMoreFailures)" in moved.stderr
        log = server.wait_for_log("study 1.2.3.999 is not in the archive index")
        assert "dicom_archive_gateway.QueueTransfer" in log
        stop_and_check(server)
    assert not queue.exists()


# -- dicom_ris_worklists.py: worklist SCP ------------------------------------------------------

def scheduled_step(patient: str, accession: str, modality: str) -> Dataset:
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = f"{modality}_ROOM_1"
    step.ScheduledProcedureStepStartDate = "20260105"
    item = Dataset()
    item.PatientID = patient
    item.PatientName = f"RIS^{patient}"
    item.AccessionNumber = accession
    item.ScheduledProcedureStepSequence = [step]
    item.file_meta = FileMetaDataset()
    item.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    item.file_meta.MediaStorageSOPClassUID = UID("1.2.276.0.7230010.3.1.0.1")  # DCMTK's worklist class
    item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    return item


@pytest.fixture(scope="module")
def ris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("ris-worklists")
    drop = folder / "ris-drop"
    drop.mkdir()
    for name, patient, accession, modality in (
            ("0001.wl", "H-100", "RIS-9001", "MR"), ("0002.wl", "H-200", "RIS-9002", "CT"),
            ("0003.wl", "TMP-0042", "RIS-9003", "MR"), ("0004.wl", "H-300", "RIS-9004", "MR")):
        scheduled_step(patient, accession, modality).save_as(drop / name, enforce_file_format=True)
    scheduled_step("H-400", "RIS-9005", "MR").save_as(drop / "0005.tmp", enforce_file_format=True)
    (drop / "0006.wl").write_bytes(b"RIS still writing this one")
    settings = {"RisWorklists": {"Folder": str(drop), "WithheldPatients": "TMP*"}}
    with official_orthanc(folder, ["dicom_ris_worklists.py"], {**ANY_SCU, **settings}) as server:
        yield server


def test_worklist_offers_the_matching_steps_of_the_ris(ris, tmp_path):
    found = dcmtk("findscu", "-W", "-aet", "MR_ROOM_1", "-k", "ScheduledProcedureStepSequence[0].Modality=MR",
                  "-k", "PatientID", "-k", "AccessionNumber", "-X", "-od", tmp_path,
                  "127.0.0.1", ris.dicom_port)
    assert found.returncode == 0, found.stderr
    got = received(tmp_path)
    # MR steps only; not the CT one, not the temporary patient's, not the .tmp file,
    # and the unreadable 0006.wl does not stop the answer.
    assert sorted((a.PatientID, a.AccessionNumber) for a in got) == \
        [("H-100", "RIS-9001"), ("H-300", "RIS-9004")]
    assert all(a.ScheduledProcedureStepSequence[0].Modality == "MR" for a in got)
    log = ris.wait_for_log("RIS worklists offered to MR_ROOM_1: 0001.wl (RIS-9001), 0004.wl (RIS-9004)")
    assert "RIS worklist 0003.wl withheld: temporary patient ID" in log
    assert "RIS worklist 0006.wl skipped, not readable yet" in log


def test_worklist_with_no_matching_step_answers_nothing(ris, tmp_path):
    found = dcmtk("findscu", "-W", "-aet", "US_ROOM_2", "-k", "ScheduledProcedureStepSequence[0].Modality=US",
                  "-k", "PatientID", "-X", "-od", tmp_path, "127.0.0.1", ris.dicom_port)
    assert found.returncode == 0, found.stderr
    assert received(tmp_path) == []
    ris.wait_for_log("RIS worklists offered to US_ROOM_2: none")


# -- dicom_modality_gate.py: C-STORE filter ----------------------------------------------------

@pytest.fixture(scope="module")
def research_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("modality-gate")
    with official_orthanc(folder, ["dicom_modality_gate.py"],
                          {"AcceptedModalities": ["CT", "PT"]}) as server:
        yield server


def test_cstore_of_a_modality_not_asked_for_is_refused_and_not_stored(research_node):
    mr = PYDICOM_FILES / "MR_small.dcm"
    sent = dcmtk("storescu", "-v", "-aet", "HOSP_ROUTER", "127.0.0.1", research_node.dicom_port, mr)
    assert sent.returncode != 0
    assert "Received Store Response (Refused: OutOfResources)" in sent.stderr
    uid = pydicom.dcmread(mr).SOPInstanceUID
    assert research_node.post("/tools/lookup", uid).json() == []
    research_node.wait_for_log(f"C-STORE from HOSP_ROUTER turned away: modality 'MR', "
                               f"SOP instance {uid}")


def test_cstore_of_an_accepted_modality_is_stored(research_node):
    ct = PYDICOM_FILES / "CT_small.dcm"
    sent = dcmtk("storescu", "-v", "127.0.0.1", research_node.dicom_port, ct)
    assert sent.returncode == 0, sent.stderr
    assert "Received Store Response (Success)" in sent.stderr
    uid = pydicom.dcmread(ct).SOPInstanceUID
    wait_for(lambda: research_node.post("/tools/lookup", uid).json(), what="the stored CT")


# -- dicom_commitment_audit.py: storage commitment SCP -----------------------------------------

@pytest.fixture(scope="module")
def commitment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Orthanc]]:
    folder = tmp_path_factory.mktemp("commitment-audit")
    with running_orthanc(folder / "sender", None, name="SENDER") as sender, \
            official_orthanc(folder, ["dicom_commitment_audit.py"], name="KEEPER") as keeper:
        # The sender asks the keeper; the keeper sends its report back to the sender.
        assert keeper.put("/modalities/sender",
                          f'["SENDER", "127.0.0.1", {sender.dicom_port}]').status == 200
        assert sender.put("/modalities/keeper",
                          f'["KEEPER", "127.0.0.1", {keeper.dicom_port}]').status == 200
        yield keeper, sender


def test_storage_commitment_report_says_what_is_kept(commitment):
    keeper, sender = commitment
    ct, mr = (pydicom.dcmread(PYDICOM_FILES / name) for name in ("CT_small.dcm", "MR_small.dcm"))
    keeper.upload("CT_small.dcm")
    keeper.upload("MR_small.dcm")
    never_sent = generate_uid()
    asked = [[ct.SOPClassUID, ct.SOPInstanceUID], [mr.SOPClassUID, never_sent],
             [ct.SOPClassUID, mr.SOPInstanceUID]]  # kept, but as an MR image: a class conflict
    answer = sender.post("/modalities/keeper/storage-commitment",
                         json.dumps({"DicomInstances": asked}))
    assert answer.status == 200, answer.text
    path = answer.json()["Path"]
    report = wait_for(lambda: (r := sender.get(path).json())["Status"] != "Pending" and r,
                      what="the storage commitment report")
    assert report["Status"] == "Failure"
    assert [s["SOPInstanceUID"] for s in report["Success"]] == [ct.SOPInstanceUID]
    reasons = {f["SOPInstanceUID"]: f["FailureReason"] for f in report["Failures"]}
    assert reasons == {never_sent: 0x0112, mr.SOPInstanceUID: 0x0119}  # no such instance, conflict
    log = keeper.wait_for_log(f"commitment audit: {mr.SOPInstanceUID} kept under another SOP class")
    assert "commitment audit: SENDER asks about 3 instance(s), transaction " in log
    assert f"commitment audit: {ct.SOPInstanceUID} kept\n" in log
    assert f"commitment audit: {never_sent} not kept here" in log


# -- every DICOM script is run here ------------------------------------------------------------

def scripts_started_here() -> set[str]:
    """The script names given to ``official_orthanc(...)`` calls in this file."""
    started: set[str] = set()
    for node in ast.walk(ast.parse(Path(__file__).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "official_orthanc":
            names = node.args[1]
            assert isinstance(names, ast.List), ast.dump(names)
            started |= {item.value for item in names.elts
                        if isinstance(item, ast.Constant) and isinstance(item.value, str)}
    return started


def test_every_dicom_script_is_run_by_a_test_of_this_file():
    scripts = {path.name for path in OFFICIAL_API.glob("dicom_*.py")}
    assert len(scripts) >= 4
    assert scripts - scripts_started_here() == set()
