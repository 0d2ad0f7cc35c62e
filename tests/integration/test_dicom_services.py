"""The DICOM services in the decorator API (tests/scripts/dicom_services.py), inline and
offloaded, against a real Orthanc with DCMTK's clients and a second Orthanc.

    findscu / movescu / storescu --DICOM--> Orthanc "SCP" (the script) --C-STORE--> Orthanc "PEER"
                                          <--storage commitment (N-ACTION, N-EVENT-REPORT)--
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.harness import PYDICOM_FILES, Orthanc, running_orthanc, scripts_dir

SCRIPT = scripts_dir() / "dicom_services.py"
CLIENTS = {"findscu": ["FINDSCU", "127.0.0.1", 1], "movescu": ["MOVESCU", "127.0.0.1", 1],
           "storescu": ["STORESCU", "127.0.0.1", 1]}
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


class Servers:
    def __init__(self, scp: Orthanc, peer: Orthanc, folder: Path, offloaded: bool) -> None:
        self.scp = scp
        self.peer = peer
        self.folder = folder
        self.offloaded = offloaded


def dcmtk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module", params=["inline", "offloaded"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    offloaded = request.param == "offloaded"
    folder = tmp_path_factory.mktemp(f"scp-{request.param}")
    with running_orthanc(folder / "peer", None, name="PEER") as peer, \
            running_orthanc(folder / "scp", SCRIPT, {"DicomServicesOffloaded": offloaded,
                                                     "DicomModalities": CLIENTS},
                            name="SCP") as scp:
        # Each knows the other: the SCP sends C-MOVE's instances and storage-commitment
        # reports to the peer; the peer asks the SCP for storage commitment.
        assert scp.put("/modalities/peer", f'["PEER", "127.0.0.1", {peer.dicom_port}]').status == 200
        assert peer.put("/modalities/scp", f'["SCP", "127.0.0.1", {scp.dicom_port}]').status == 200
        yield Servers(scp, peer, folder, offloaded)


def find(servers: Servers, *keys: str, worklist: bool = False) -> tuple[str, list[Any]]:
    """findscu against the SCP: its verbose output and the answers, parsed by pydicom."""
    out = servers.folder / f"answers-{generate_uid()}"
    out.mkdir()
    mode = "-W" if worklist else "-P"
    run = dcmtk("findscu", "-v", "-aet", "FINDSCU", "-aec", "SCP", mode,
                *[a for k in keys for a in ("-k", k)], "-X", "-od", str(out),
                "127.0.0.1", str(servers.scp.dicom_port))
    answers = [pydicom.dcmread(p) for p in sorted(out.iterdir())]
    return run.stdout + run.stderr, answers


def final_status(output: str) -> str:
    found = re.findall(r"Received Final Find Response \(([^)]*)\)", output)
    assert found, output
    return found[-1]


def test_status_lists_the_dicom_services(servers):
    status = servers.scp.get("/runtime/status").json()
    assert status["dicom_services"] == {
        kind: {"handler": f"dicom_services.{name}", "offloaded": servers.offloaded}
        for kind, name in (("find", "find_patients"), ("worklist", "worklist"), ("move", "move"),
                           ("storage_commitment", "commitment"))}
    assert status["cstore_filters"] == ["dicom_services.no_mr"]


# -- C-FIND ---------------------------------------------------------------------------

def test_cfind_answers_the_handlers_datasets(servers):
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientName=DOE*", "PatientID",
                           "PatientBirthDate")
    assert final_status(output) == "Success"
    assert sorted((str(a.PatientID), str(a.PatientName), a.PatientBirthDate) for a in answers) == \
        [("P1", "DOE^JOHN", "19700101"), ("P2", "DOE^JANE", "19800202")]


def test_cfind_passes_the_query_as_orthanc_parsed_it(servers):
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=P3", "PatientName")
    assert final_status(output) == "Success"
    assert [(str(a.PatientID), str(a.PatientName)) for a in answers] == [("P3", "SMITH^ANNA")]


def test_cfind_with_no_match_answers_none(servers):
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientName=NOBODY*")
    assert final_status(output) == "Success"
    assert answers == []


def test_cfind_odd_query_reaches_the_handler_as_orthanc_parsed_it(servers):
    long_name = "X" * 64
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=ECHO",
                           "PatientBirthDate=not-a-date", f"PatientName={long_name}*",
                           "(0009,0010)=PRIVATE", "PatientComments")
    assert final_status(output) == "Success"
    assert len(answers) == 1
    echoed = answers[0].PatientComments
    assert "PatientBirthDate=not-a-date" in echoed and f"PatientName={long_name}*" in echoed
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=P1")
    assert final_status(output) == "Success" and len(answers) == 1


def test_cfind_handler_that_raises_fails_the_query_and_orthanc_goes_on(servers):
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=RAISE")
    assert final_status(output).startswith("Failed")
    assert answers == []
    servers.scp.wait_for_log("asked to fail")
    assert "dicom_services.find_patients (C-FIND from FINDSCU)" in servers.scp.log()
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=P1")
    assert final_status(output) == "Success" and len(answers) == 1


def test_cfind_handler_answering_the_wrong_type_fails_with_its_name_and_the_type(servers):
    output, _ = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=DICT")
    assert final_status(output).startswith("Failed")
    servers.scp.wait_for_log("dicom_services.find_patients (C-FIND) answered dict, not a pydicom "
                             "Dataset or DICOM bytes")


def test_offloaded_cfind_that_times_out_or_crashes_fails_and_the_next_one_works(servers):
    # Inline, the handler neither sleeps nor crashes: only the last query runs.
    for patient in ("SLEEP", "CRASH") if servers.offloaded else ():
        output, _ = find(servers, "QueryRetrieveLevel=PATIENT", f"PatientID={patient}")
        assert final_status(output).startswith("Failed"), patient
    output, answers = find(servers, "QueryRetrieveLevel=PATIENT", "PatientID=P2")
    assert final_status(output) == "Success" and len(answers) == 1


# -- worklists ------------------------------------------------------------------------

def test_worklist_answers_the_items_that_match(servers):
    output, answers = find(servers, "ScheduledProcedureStepSequence[0].Modality=CT",
                           "PatientName", "PatientID", "AccessionNumber", worklist=True)
    assert final_status(output) == "Success"
    assert sorted((str(a.PatientID), a.AccessionNumber) for a in answers) == [("P1", "A1"),
                                                                              ("P3", "A3")]
    assert {a.ScheduledProcedureStepSequence[0].Modality for a in answers} == {"CT"}


def test_worklist_handler_that_raises_fails_the_query(servers):
    output, answers = find(servers, "PatientID=RAISE", "PatientName", worklist=True)
    assert final_status(output).startswith("Failed")
    assert answers == []
    servers.scp.wait_for_log("dicom_services.worklist (worklist C-FIND from FINDSCU)")


# -- C-MOVE ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def study(servers: Servers) -> tuple[str, list[str]]:
    """Three instances of one study, stored in the SCP: its StudyInstanceUID, their SOPInstanceUIDs."""
    study_uid, uids = generate_uid(), []
    for _ in range(3):
        dataset = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
        dataset.StudyInstanceUID = study_uid
        dataset.SOPInstanceUID = uid = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = uid
        path = servers.folder / f"{uid}.dcm"
        dataset.save_as(path)
        servers.scp.upload(path)
        uids.append(uid)
    return study_uid, uids


def move(servers: Servers, study_uid: str, target: str = "PEER") -> tuple[int, str]:
    """movescu (with its DIMSE messages dumped): the final status and the output."""
    run = dcmtk("movescu", "-d", "-aet", "MOVESCU", "-aec", "SCP", "-aem", target, "-S",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                "127.0.0.1", str(servers.scp.dicom_port))
    output = run.stdout + run.stderr
    return dimse_status(output), output


def test_cmove_sends_each_instance_and_counts_them(servers, study):
    study_uid, uids = study
    status, output = move(servers, study_uid)
    assert status == 0, output
    # The client is told of three sub-operations, one per instance.
    completed = [int(n) for n in re.findall(r"Completed Suboperations\s*:\s*(\d+)", output)]
    assert completed and completed[-1] == 3, output
    found = servers.peer.post("/tools/find", '{"Level": "Instance", "Query": {}, "Expand": true}')
    received = {i["MainDicomTags"]["SOPInstanceUID"] for i in found.json()}
    assert set(uids) <= received


def test_cmove_to_an_unknown_modality_fails_and_says_why(servers, study):
    status, output = move(servers, study[0], target="NOWHERE")
    assert status != 0, output
    servers.scp.wait_for_log("no modality of DicomModalities has the AET 'NOWHERE'")


def test_cmove_handler_that_raises_fails_the_move(servers):
    status, output = move(servers, "RAISE")
    assert status != 0, output
    servers.scp.wait_for_log("dicom_services.move (C-MOVE from MOVESCU to PEER)")


# -- storage commitment -------------------------------------------------------------

def test_storage_commitment_reports_each_instance(servers, study):
    kept, other = study[1][:2]
    missing = generate_uid()
    asked = [[CT_IMAGE_STORAGE, kept], [CT_IMAGE_STORAGE, missing],
             ["1.2.840.10008.5.1.4.1.1.4", other]]  # MR Image Storage: not what it is
    answer = servers.peer.post("/modalities/scp/storage-commitment",
                               f'{{"DicomInstances": {str(asked).replace(chr(39), chr(34))}}}')
    assert answer.status == 200, answer.text
    path = answer.json()["Path"]
    report = servers.peer.wait_for(
        lambda: (r := servers.peer.get(path).json())["Status"] != "Pending" and r)
    assert report["Status"] == "Failure"
    assert [s["SOPInstanceUID"] for s in report["Success"]] == [kept]
    reasons = {f["SOPInstanceUID"]: f["FailureReason"] for f in report["Failures"]}
    assert reasons == {missing: 0x0112, other: 0x0119}  # no such instance, class conflict


# -- C-STORE filters ------------------------------------------------------------------

def variant(servers: Servers, source: str, **tags: str) -> Path:
    dataset = pydicom.dcmread(PYDICOM_FILES / source)
    dataset.SOPInstanceUID = uid = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = uid
    for keyword, value in tags.items():
        setattr(dataset, keyword, value)
    path = servers.folder / f"{uid}.dcm"
    dataset.save_as(path)
    return path


def dimse_status(output: str) -> int:
    """The status of the last DIMSE response in the output of a DCMTK client run with -d."""
    statuses = re.findall(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})", output)
    assert statuses, output
    return int(statuses[-1], 16)


def store(servers: Servers, path: Path) -> tuple[int, str]:
    """storescu: the C-STORE's DIMSE status, and the instance's SOPInstanceUID."""
    run = dcmtk("storescu", "-d", "-aet", "STORESCU", "-aec", "SCP", "127.0.0.1",
                str(servers.scp.dicom_port), str(path))
    return dimse_status(run.stdout + run.stderr), pydicom.dcmread(path).SOPInstanceUID


def stored(servers: Servers, uid: str) -> bool:
    found = servers.scp.post("/tools/find", f'{{"Level": "Instance", "Query": {{"SOPInstanceUID": "{uid}"}}}}')
    return bool(found.json())


def test_cstore_filter_accepts_and_refuses_with_the_status_it_chooses(servers):
    status, uid = store(servers, variant(servers, "CT_small.dcm"))
    assert status == 0 and stored(servers, uid)
    status, uid = store(servers, variant(servers, "MR_small.dcm"))
    assert status == 0xA900 and not stored(servers, uid)
    status, uid = store(servers, variant(servers, "CT_small.dcm", Modality="US"))
    assert status == 0x0124 and not stored(servers, uid)  # False: "not authorized"
    servers.scp.wait_for_log("dicom_services.no_mr refused an instance from STORESCU")


def test_cstore_filter_that_raises_refuses(servers):
    status, uid = store(servers, variant(servers, "CT_small.dcm", PatientID="RAISE"))
    assert status == 0x0110 and not stored(servers, uid)  # processing failure
    servers.scp.wait_for_log("dicom_services.no_mr (C-STORE filter): the instance is refused")
    if servers.offloaded:  # a crashed worker refuses too, and the next instance passes
        status, uid = store(servers, variant(servers, "CT_small.dcm", PatientID="CRASH"))
        assert status == 0x0110 and not stored(servers, uid)
    status, uid = store(servers, variant(servers, "CT_small.dcm"))
    assert status == 0 and stored(servers, uid)
