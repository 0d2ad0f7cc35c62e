"""The Orthanc Book's samples of the DICOM network callbacks run unchanged on ours.

dicom-find-move-scp.py (C-FIND and C-MOVE SCP), worklist.py (worklist SCP) and
incoming-cstore-filter.py (C-STORE filter), from tests/scripts/book/ (test_book_samples.py
says which samples apply and how they run), each in a real Orthanc with this plugin,
driven by DCMTK's findscu, movescu and storescu as the Book shows. What each test
expects is what the official plugin 4.0 does with the same sample and the same command.
storage-commitment-default.py needs the official plugin 4.1, whose storage commitment
callback ours has too: a second Orthanc asks for the commitment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.harness import PYDICOM_FILES, Orthanc, book_orthanc, running_orthanc, wait_for

# Orthanc answers C-FIND, worklist and C-MOVE requests of AETs it does not know.
ANY_SCU = {"DicomAlwaysAllowFind": True, "DicomAlwaysAllowFindWorklist": True,
           "DicomAlwaysAllowMove": True}


def dcmtk(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def answers(folder: Path) -> list[Dataset]:
    """The answers findscu -X wrote in ``folder``, in order."""
    return [pydicom.dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]


# -- dicom-find-move-scp.py -----------------------------------------------------------------

@pytest.fixture(scope="module")
def find_move(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("book-find-move")
    with book_orthanc(folder, ["dicom-find-move-scp.py"], ANY_SCU) as server:
        yield server


def test_cfind_answered_by_the_script(find_move, tmp_path):
    found = dcmtk("findscu", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=TEST",
                  "-k", "SeriesDescription=", "-X", "-od", tmp_path,
                  "127.0.0.1", find_move.dicom_port)
    assert found.returncode == 0, found.stderr
    [answer] = answers(tmp_path)
    # The query's tags, in order, each answered HELLO<index>-<value>: the Book's output.
    assert answer.QueryRetrieveLevel == "HELLO0-STUDY"
    assert answer.SeriesDescription == "HELLO1-"
    assert str(answer.PatientName) == "HELLO2-TEST"
    log = find_move.wait_for_log("Received incoming C-FIND request from FINDSCU:")
    assert "  PatientName (0010,0010) = [TEST]" in log
    assert "  SeriesDescription (0008,103e) = []" in log


def test_cmove_request_handed_to_the_script(find_move):
    moved = dcmtk("movescu", "127.0.0.1", find_move.dicom_port, "-aem", "TARGET", "-aec", "SOURCE",
                  "-aet", "MOVESCU", "-S", "-k", "QueryRetrieveLevel=IMAGE",
                  "-k", "StudyInstanceUID=1.2.3.4")
    assert moved.returncode == 0, moved.stderr
    log = find_move.wait_for_log("C-MOVE request to be handled in Python: {")
    text = log[log.index("C-MOVE request to be handled in Python: {"):]
    request = json.loads(text[text.index("{"):text.index("\n}") + 2])
    assert request == {"AccessionNumber": "", "Level": "INSTANCE", "OriginatorAET": "MOVESCU",
                       "OriginatorID": 1, "PatientID": "", "SOPInstanceUID": "",
                       "SeriesInstanceUID": "", "SourceAET": "SOURCE",
                       "StudyInstanceUID": "1.2.3.4", "TargetAET": "TARGET"}


# -- worklist.py ----------------------------------------------------------------------------

WORKLISTS = Path("/tmp/WorklistsDatabase")  # the sample's folder, fixed in the script


def worklist(patient: str, modality: str) -> Dataset:
    item = Dataset()
    item.Modality = modality
    item.ScheduledStationAETitle = "SCANNER"
    wl = Dataset()
    wl.PatientID = patient
    wl.PatientName = f"{patient}^BOOK"
    wl.AccessionNumber = patient
    wl.ScheduledProcedureStepSequence = [item]
    wl.file_meta = FileMetaDataset()
    wl.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    wl.file_meta.MediaStorageSOPClassUID = "1.2.276.0.7230010.3.1.0.1"
    wl.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    return wl


@pytest.fixture(scope="module")
def worklists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("book-worklist")
    shutil.rmtree(WORKLISTS, ignore_errors=True)
    WORKLISTS.mkdir()
    try:
        for patient, modality in (("MR-1", "MR"), ("MR-2", "MR"), ("CT-1", "CT")):
            worklist(patient, modality).save_as(WORKLISTS / f"{patient}.wl",
                                                enforce_file_format=True)
        # Not a .wl file: the sample skips it, though it would match.
        worklist("MR-3", "MR").save_as(WORKLISTS / "MR-3.dcm", enforce_file_format=True)
        with book_orthanc(folder, ["worklist.py"], ANY_SCU) as server:
            yield server
    finally:
        shutil.rmtree(WORKLISTS, ignore_errors=True)


def test_worklist_query_answered_from_the_folder(worklists, tmp_path):
    found = dcmtk("findscu", "-W", "-k", "ScheduledProcedureStepSequence[0].Modality=MR",
                  "-k", "PatientID", "-X", "-od", tmp_path, "127.0.0.1", worklists.dicom_port)
    assert found.returncode == 0, found.stderr
    got = answers(tmp_path)
    assert sorted(a.PatientID for a in got) == ["MR-1", "MR-2"]
    assert all(a.ScheduledProcedureStepSequence[0].Modality == "MR" for a in got)
    log = worklists.wait_for_log("Matching worklist: MR-2.wl")
    assert "Matching worklist: MR-1.wl" in log
    assert "Matching worklist: CT-1.wl" not in log
    assert "Received incoming C-FIND worklist request from FINDSCU:" in log
    assert "C-FIND worklist request to be handled in Python: {" in log


# -- incoming-cstore-filter.py --------------------------------------------------------------

@pytest.fixture(scope="module")
def cstore_filter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("book-cstore-filter")
    with book_orthanc(folder, ["incoming-cstore-filter.py"]) as server:
        yield server


def test_cstore_of_a_001_patient_refused(cstore_filter, tmp_path):
    refused = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    refused.PatientID = "001-" + refused.PatientID
    refused.SOPInstanceUID = refused.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    refused.save_as(tmp_path / "refused.dcm")
    sent = dcmtk("storescu", "-v", "127.0.0.1", cstore_filter.dicom_port, tmp_path / "refused.dcm")
    assert sent.returncode != 0
    assert "Received Store Response (Error: DataSetDoesNotMatchSOPClass)" in sent.stderr
    assert cstore_filter.post("/tools/lookup", refused.SOPInstanceUID).json() == []


def test_cstore_of_another_patient_accepted(cstore_filter):
    file = PYDICOM_FILES / "MR_small.dcm"
    sent = dcmtk("storescu", "-v", "127.0.0.1", cstore_filter.dicom_port, file)
    assert sent.returncode == 0, sent.stderr
    assert "Received Store Response (Success)" in sent.stderr
    uid = pydicom.dcmread(file).SOPInstanceUID
    wait_for(lambda: cstore_filter.post("/tools/lookup", uid).json(), what="the stored instance")


# -- storage-commitment-default.py ----------------------------------------------------------

@pytest.fixture(scope="module")
def commitment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Orthanc]]:
    folder = tmp_path_factory.mktemp("book-commitment")
    with running_orthanc(folder / "peer", None, name="PEER") as peer, \
            book_orthanc(folder, ["storage-commitment-default.py"], name="SCP") as scp:
        # The peer asks the SCP; the SCP sends its report back to the peer.
        assert scp.put("/modalities/peer", f'["PEER", "127.0.0.1", {peer.dicom_port}]').status == 200
        assert peer.put("/modalities/scp", f'["SCP", "127.0.0.1", {scp.dicom_port}]').status == 200
        yield scp, peer


def test_storage_commitment_looked_up_by_the_script(commitment):
    scp, peer = commitment
    ct, mr = (pydicom.dcmread(PYDICOM_FILES / name) for name in ("CT_small.dcm", "MR_small.dcm"))
    scp.upload("CT_small.dcm")
    scp.upload("MR_small.dcm")
    missing = generate_uid()
    asked = [[ct.SOPClassUID, ct.SOPInstanceUID], [ct.SOPClassUID, missing],
             [ct.SOPClassUID, mr.SOPInstanceUID]]  # stored as an MR image: a class conflict
    answer = peer.post("/modalities/scp/storage-commitment", json.dumps({"DicomInstances": asked}))
    assert answer.status == 200, answer.text
    path = answer.json()["Path"]
    report = wait_for(lambda: (r := peer.get(path).json())["Status"] != "Pending" and r,
                      what="the storage commitment report")
    assert report["Status"] == "Failure"
    assert [s["SOPInstanceUID"] for s in report["Success"]] == [ct.SOPInstanceUID]
    reasons = {f["SOPInstanceUID"]: f["FailureReason"] for f in report["Failures"]}
    assert reasons == {missing: 0x0112, mr.SOPInstanceUID: 0x0119}  # no such instance, conflict
    log = scp.wait_for_log(f"Storage commitment SCP job: Success while looking for "
                           f"{ct.SOPClassUID} / {ct.SOPInstanceUID}")
    assert f"Failure while looking for {ct.SOPClassUID} / {missing}" in log
