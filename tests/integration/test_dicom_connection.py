"""Who asked: the DICOM-service handlers get the connection (calling AET, called AET, remote
IP) from DCMTK's findscu and movescu and from a peer Orthanc's storage commitment request, in
the decorator API (inline and offloaded: tests/scripts/dicom_connection.py) and through the
official 7.x registrations (tests/scripts/dicom_connection_compat.py).

Valid on every Orthanc: 1.12.10 and newer pass the plugin a connection object, so the remote
IP is 127.0.0.1; older ones (1.10.1, 1.12.7) pass the AETs only, and the remote IP is None.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.harness import Orthanc, running_orthanc, scripts_dir
from tests.integration.test_dicom_services import (
    CLIENTS,
    CT_IMAGE_STORAGE,
    dimse_status,
    final_status,
)


def orthanc_version(server: Orthanc) -> tuple[int, ...]:
    version = server.get("/system").json()["Version"]
    if version == "mainline":
        return (999,)
    return tuple(int(part) for part in version.split("."))


def expected_ip(server: Orthanc) -> str | None:
    """What the running Orthanc tells of the remote IP: only 1.12.10 and newer pass it."""
    return "127.0.0.1" if orthanc_version(server) >= (1, 12, 10) else None


class Servers:
    def __init__(self, scp: Orthanc, peer: Orthanc, folder: Path, log: Path, style: str) -> None:
        self.scp, self.peer, self.folder, self.log, self.style = scp, peer, folder, log, style

    def recorded(self, service: str) -> dict[str, Any]:
        path = self.log / f"{service}.json"
        self.scp.wait_for(path.exists, what=f"{service}'s handler to record its connection")
        return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["inline", "offloaded", "official-7x"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    style = request.param
    folder = tmp_path_factory.mktemp(f"connection-{style}")
    log = folder / "log"
    log.mkdir()
    config: dict[str, Any] = {"DicomModalities": CLIENTS, "ConnectionLog": str(log)}
    if style == "official-7x":
        script, key = scripts_dir() / "dicom_connection_compat.py", "PythonScript"
    else:
        script, key = scripts_dir() / "dicom_connection.py", "PythonRuntime"
        config["DicomServicesOffloaded"] = style == "offloaded"
    with running_orthanc(folder / "peer", None, name="PEER") as peer, \
            running_orthanc(folder / "scp", script, config, name="SCP", script_key=key) as scp:
        assert scp.put("/modalities/peer", f'["PEER", "127.0.0.1", {peer.dicom_port}]').status == 200
        assert peer.put("/modalities/scp", f'["SCP", "127.0.0.1", {scp.dicom_port}]').status == 200
        yield Servers(scp, peer, folder, log, style)


def dcmtk(*args: str) -> str:
    run = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return run.stdout + run.stderr


def check_connection(servers: Servers, seen: dict[str, Any], calling: str) -> None:
    assert (seen["remote_aet"], seen["called_aet"], seen["remote_ip"]) == \
        (calling, "SCP", expected_ip(servers.scp)), seen
    if servers.style == "offloaded":  # it crossed to a worker, pickled
        assert seen["pid"] != servers.scp.process.process.pid  # type: ignore[union-attr]


def test_findscu_shows_its_aet_the_called_aet_and_its_ip(servers):
    out = servers.folder / f"find-{generate_uid()}"
    out.mkdir()
    output = dcmtk("findscu", "-v", "-aet", "FINDSCU", "-aec", "SCP", "-P",
                   "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", "-k", "PatientComments",
                   "-X", "-od", str(out), "127.0.0.1", str(servers.scp.dicom_port))
    assert final_status(output) == "Success", output
    answers = [pydicom.dcmread(p) for p in sorted(out.iterdir())]
    assert [str(a.PatientID) for a in answers] == ["CONNECTION"]
    if servers.style == "official-7x":
        seen = servers.recorded("find")
    else:  # the handler answered it: the client itself reads who it was
        seen = json.loads(answers[0].PatientComments)
    check_connection(servers, seen, "FINDSCU")


def test_worklist_findscu_shows_the_connection(servers):
    out = servers.folder / f"worklist-{generate_uid()}"
    out.mkdir()
    output = dcmtk("findscu", "-v", "-aet", "FINDSCU", "-aec", "SCP", "-W",
                   "-k", "PatientID", "-k", "PatientComments", "-X", "-od", str(out),
                   "127.0.0.1", str(servers.scp.dicom_port))
    assert final_status(output) == "Success", output
    if servers.style == "official-7x":
        seen = servers.recorded("worklist")
    else:
        [answer] = [pydicom.dcmread(p) for p in sorted(out.iterdir())]
        seen = json.loads(answer.PatientComments)
    check_connection(servers, seen, "FINDSCU")


def test_movescu_shows_the_connection(servers):
    output = dcmtk("movescu", "-d", "-aet", "MOVESCU", "-aec", "SCP", "-aem", "MOVESCU", "-S",
                   "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={generate_uid()}",
                   "127.0.0.1", str(servers.scp.dicom_port))
    assert dimse_status(output) == 0, output  # nothing to move: done at once
    check_connection(servers, servers.recorded("move"), "MOVESCU")
    if servers.style == "official-7x":  # RegisterMoveCallback3: the AETs are the connection's
        assert json.loads((servers.log / "move-request.json").read_text()) == sorted(
            ["Level", "PatientID", "AccessionNumber", "StudyInstanceUID", "SeriesInstanceUID",
             "SOPInstanceUID", "TargetAET", "OriginatorID"])


def test_storage_commitment_request_shows_the_connection(servers):
    asked = [[CT_IMAGE_STORAGE, generate_uid()]]
    answer = servers.peer.post("/modalities/scp/storage-commitment",
                               json.dumps({"DicomInstances": asked}))
    assert answer.status == 200, answer.text
    report = servers.peer.wait_for(
        lambda: (r := servers.peer.get(answer.json()["Path"]).json())["Status"] != "Pending" and r)
    assert [f["FailureReason"] for f in report["Failures"]] == [0x0112]
    check_connection(servers, servers.recorded("storage_commitment"), "PEER")
