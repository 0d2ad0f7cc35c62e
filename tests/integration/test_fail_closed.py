"""Gates and DICOM handlers fail closed (issue 23, items 2, 3, 7, 8), against a real Orthanc.

A table of answers is asked of each HTTP filter (inline, offloaded, the official
plugin's) and each C-STORE filter (inline, offloaded, the official plugin's):
only an explicit allow lets a request through or stores an instance; a refusal
is logged at INFO; any other answer refuses and logs at ERROR a line naming the
handler and what it answered. storescu never hears "stored" for an instance
that was not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.harness import PYDICOM_FILES, Orthanc, running_orthanc, scripts_dir
from tests.integration.test_dicom_services import dcmtk, dimse_status, final_status

SCRIPT = scripts_dir() / "fail_closed.py"
COMPAT_SCRIPT = scripts_dir() / "fail_closed_compat.py"
MODALITIES = {"findscu": ["FINDSCU", "127.0.0.1", 1], "movescu": ["MOVESCU", "127.0.0.1", 1],
              "storescu": ["STORESCU", "127.0.0.1", 1], "peer": ["PEER", "127.0.0.1", 1]}

# Every answer the scripts know, by name (tests/scripts/fail_closed.py, ANSWERS).
NAMES = ["True", "False", "no", "yes", "empty", "1", "0", "1.0", "0.0", "None", "allowed-false",
         "list", "0xB000", "0xB006", "0xB007", "0x0107", "0x0001", "0xFF00", "0xFF01", "0xFE00",
         "0x10000", "-1", "0xA700", "0xA900", "0xC000", "0x0122", "0x0124", "0x0110", "0x0211",
         "coroutine"]
REFUSAL_STATUSES = {"0xA700", "0xA900", "0xC000", "0x0122", "0x0124", "0x0110", "0x0211"}
WARNING_OR_SUCCESS = re.compile(r"^(0x0000|0x0001|0x0107|0x0116|0xB[0-9A-F]{3})$")


@pytest.fixture(scope="module", params=["inline", "offloaded"])
def scp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp(f"fail-closed-{request.param}")
    config = {"FailClosedOffloaded": request.param == "offloaded", "DicomModalities": MODALITIES,
              "PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(folder, SCRIPT, config, name="SCP") as server:
        yield server


@pytest.fixture(scope="module")
def compat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with running_orthanc(tmp_path_factory.mktemp("fail-closed-compat"), COMPAT_SCRIPT,
                         {"DicomModalities": MODALITIES}, name="SCP") as server:
        yield server


def log_lines(server: Orthanc, text: str) -> list[str]:
    return [line for line in server.log().splitlines() if text in line]


def level_of(server: Orthanc, text: str) -> str:
    """The level letter (I, W, E) of the last log line holding ``text``."""
    lines = server.wait_for(lambda: log_lines(server, text), what=text)
    return lines[-1][0]


# -- HTTP filters ---------------------------------------------------------------------

def check_http_table(server: Orthanc, parameter: str, handler: str) -> None:
    outcomes = {name: server.get(f"/fail-closed/secret?{parameter}={name}").status
                for name in NAMES}
    assert outcomes == {name: 200 if name == "True" else 403 for name in NAMES}
    # A refusal is the filter working: INFO. Any other answer: ERROR, naming the handler.
    assert level_of(server, f"{handler} refused GET /fail-closed/secret") == "I"
    for name, type_name in (("no", "str"), ("1", "int"), ("1.0", "float"),
                            ("allowed-false", "dict"), ("None", "NoneType"),
                            ("coroutine", "coroutine")):
        line = f"{handler} (HTTP filter) answered {type_name}" if name != "coroutine" else \
            f"{handler} (HTTP filter) answered a coroutine"
        assert level_of(server, line) == "E", name
    assert "was never awaited" not in server.log()


def test_an_inline_http_filter_lets_through_only_true(scp):
    check_http_table(scp, "inline", "fail_closed.inline_gate")


def test_an_offloaded_http_filter_lets_through_only_true(scp):
    check_http_table(scp, "offloaded", "fail_closed.offloaded_gate")


def test_the_official_plugins_http_filter_lets_through_only_true(compat):
    check_http_table(compat, "compat", "fail_closed_compat.Filter")


# -- C-STORE filters ------------------------------------------------------------------

def instance(folder: Path, patient_id: str) -> Path:
    dataset = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    dataset.SOPInstanceUID = uid = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = uid
    dataset.PatientID = patient_id
    path = folder / f"{uid}.dcm"
    dataset.save_as(path)
    return path


def store(server: Orthanc, path: Path) -> tuple[int, bool]:
    """storescu: the DIMSE status the modality received, and whether Orthanc has the instance."""
    run = dcmtk("storescu", "-d", "-aet", "STORESCU", "-aec", "SCP", "127.0.0.1",
                str(server.dicom_port), str(path))
    uid = pydicom.dcmread(path).SOPInstanceUID
    found = server.post("/tools/find", f'{{"Level": "Instance", "Query": {{"SOPInstanceUID": "{uid}"}}}}')
    return dimse_status(run.stdout + run.stderr), bool(found.json())


def check_cstore_table(server: Orthanc, folder: Path, handler: str, accepts: set[str]) -> None:
    outcomes = {name: store(server, instance(folder, f"ANS-{name}")) for name in NAMES}
    for name, (status, stored) in outcomes.items():
        # Never: the modality told "stored" (success or a warning) for an instance not stored.
        assert not (WARNING_OR_SUCCESS.match(f"0x{status:04X}") and not stored), (name, status)
    expected = {}
    for name in NAMES:
        if name in accepts:
            expected[name] = (0, True)
        elif name == "False":
            expected[name] = (0x0124, False)
        elif name in REFUSAL_STATUSES:
            expected[name] = (int(name, 16), False)
        else:
            expected[name] = (0x0110, False)
    assert {n: (f"0x{s:04X}", k) for n, (s, k) in outcomes.items()} == \
        {n: (f"0x{s:04X}", k) for n, (s, k) in expected.items()}
    assert level_of(server, f"{handler} refused an instance from STORESCU (DIMSE status "
                            "0x0124)") == "I"
    for text in ("answered 0xB000 (a Warning", "answered 0xFF00 (Pending", "answered str",
                 "answered a coroutine", "answered 65536, out of the range"):
        assert level_of(server, f"{handler} (C-STORE filter) {text}") == "E", text
    assert "was never awaited" not in server.log()


def test_a_cstore_filter_stores_only_on_true_and_refuses_only_with_refusals(scp, tmp_path):
    check_cstore_table(scp, tmp_path, "fail_closed.cstore_gate", {"True"})


def test_the_official_plugins_cstore_filter_stores_only_on_0_and_true(compat, tmp_path):
    check_cstore_table(compat, tmp_path, "fail_closed_compat.CStoreFilter", {"True", "0"})


# -- DICOM services (item 8) ----------------------------------------------------------

def test_a_worklist_handler_answering_bytes_that_are_not_dicom_fails_the_query(scp, tmp_path):
    run = dcmtk("findscu", "-v", "-aet", "FINDSCU", "-aec", "SCP", "-W", "-k", "PatientID=BYTES",
                "-k", "PatientName", "-X", "-od", str(tmp_path), "127.0.0.1", str(scp.dicom_port))
    assert final_status(run.stdout + run.stderr).startswith("Failed")
    scp.wait_for_log("fail_closed.worklist (worklist) answered 32 bytes that are not a DICOM file")
    run = dcmtk("findscu", "-v", "-aet", "FINDSCU", "-aec", "SCP", "-W", "-k", "PatientID=W1",
                "-k", "PatientName", "-X", "-od", str(tmp_path), "127.0.0.1", str(scp.dicom_port))
    assert final_status(run.stdout + run.stderr) == "Success"
    assert [pydicom.dcmread(p).PatientID for p in tmp_path.iterdir()] == ["W1"]


def move(server: Orthanc, study_uid: str) -> tuple[int, list[int], str]:
    run = dcmtk("movescu", "-d", "-aet", "MOVESCU", "-aec", "SCP", "-aem", "PEER", "-S",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                "127.0.0.1", str(server.dicom_port))
    output = run.stdout + run.stderr
    completed = [int(n) for n in re.findall(r"Completed Suboperations\s*:\s*(\d+)", output)]
    return dimse_status(output), completed, output


def test_a_cmove_handler_answering_none_fails_the_move_with_nothing_completed(scp):
    status, completed, output = move(scp, "1.2.3.NONE")
    assert status not in (0x0000, 0xB000), output
    assert all(n == 0 for n in completed), output
    scp.wait_for_log("fail_closed.move (C-MOVE) answered None, not a list of Orthanc ids")


def test_a_nul_in_a_uri_raises_value_error_in_the_master_and_in_a_worker(scp):
    for where in ("inline", "offloaded"):
        outcome = scp.get(f"/fail-closed/nul/{where}").json()
        assert set(outcome) == {"sdk.rest_get", "orthanc.RestApiGet"}
        for call, what in outcome.items():
            assert what.startswith("ValueError: ") and "NUL" in what, (where, call, what)


# -- storage area (item 8) ------------------------------------------------------------

def test_a_create_that_times_out_or_loses_its_worker_leaves_no_file(tmp_path):
    area = tmp_path / "area"
    area.mkdir()
    config = {"StorageAreaTestFolder": str(area), "PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(tmp_path / "orthanc", scripts_dir() / "storage_leftovers.py",
                         config) as server:
        server.upload(instance(tmp_path, "KEPT"))
        kept = sorted(p.name for p in area.iterdir())
        assert kept
        failures = 0
        for marker in ["SLOW-CREATE", "DIE-IN-CREATE"] * 3:
            answer = server.post("/instances", instance(tmp_path, marker).read_bytes())
            assert answer.status >= 400, answer.text
            failures += 1
        # The area holds what Orthanc knows of, and nothing of the failed creates.
        server.wait_for(lambda: sorted(p.name for p in area.iterdir()) == kept, timeout=20,
                        what=f"the area back to {kept}, after {failures} failed creates")
        assert len(server.get("/instances").json()) == 1
        assert server.upload(instance(tmp_path, "KEPT-TOO"))
        assert len(list(area.iterdir())) == 2 * len(kept)  # as many files as the first one
