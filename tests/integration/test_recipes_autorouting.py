"""The auto-routing recipe between real Orthancs: a second Orthanc is the DICOM modality and the peer.

The recipe is enabled by configuration alone, with no script. ``StableAge: 1``
makes a study stable one second after its last instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from runtime.devkit.launcher import free_port
from tests.harness import PYDICOM_FILES, running_orthanc
from tests.harness import wait_for as harness_wait_for

T = TypeVar("T")

BRAIN = PYDICOM_FILES / "dicomdirtests" / "98892003"  # Doe^Peter: three MR studies, six series
HEAD_CT = PYDICOM_FILES / "dicomdirtests" / "77654033" / "CT2"  # Doe^Archibald: one CT study
SPINE_CR = [PYDICOM_FILES / "dicomdirtests" / "77654033" / f"CR{i}" for i in (1, 2, 3)]


def wait_for(predicate: Callable[[], T], timeout: float = 30, what: str = "condition") -> T:
    return harness_wait_for(predicate, timeout, 0.2, what)  # type: ignore[no-any-return]


def upload_folder(orthanc, *folders: Path) -> set[str]:
    """Uploads every file below the folders; the studies they make."""
    studies = set()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            studies.add(orthanc.upload(path)["ParentStudy"])
    return studies


def refused(reason: str) -> bool:
    """A failure reason that says the modality refused the connection, as each Debian's DCMTK
    words it: "Connection refused" (3.6.7, Debian 12), "TCP Initialization Error: Operation
    now in progress" (3.6.9, Debian unstable: its connect is non-blocking)."""
    return "Connection refused" in reason or "TCP Initialization Error" in reason


def routing(**settings: Any) -> dict[str, Any]:
    return {"Recipes": {"AutoRouting": {"Enabled": True, "PollInterval": 0.5, **settings}}}


def status(orthanc) -> dict[str, Any]:
    answer = orthanc.get("/recipes/auto-routing/status")
    assert answer.status == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def count(orthanc, level: str, resource: str) -> int:
    answer = orthanc.get(f"/{level}/{resource}/instances")
    return len(answer.json()) if answer.status == 200 else 0


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("peer"), None, name="peer") as server:
        yield server


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, peer):
    rules = [
        {"Name": "MR to the modality", "Match": {"Modality": "mr"}, "Modalities": ["pacs"]},
        {"Name": "head CT to the peer", "MatchRegex": {"StudyDescription": r"CT, HEAD/.*"},
         "Peers": ["backup"]},
    ]
    config = {
        "StableAge": 1,
        "DicomModalities": {"pacs": ["PEER", "127.0.0.1", peer.dicom_port]},
        "OrthancPeers": {"backup": [peer.url + "/"]},
        "PythonRuntime": routing(Rules=rules),
    }
    with running_orthanc(tmp_path_factory.mktemp("router"), None, config) as server:
        yield server


def test_matching_studies_arrive_complete_at_the_modality(orthanc, peer):
    studies = upload_folder(orthanc, BRAIN)
    assert len(studies) == 3

    def all_sent() -> dict[str, dict[str, Any]]:
        # The last delivery of each study: under load, a study may turn stable before
        # all its files are uploaded, and is sent again when the rest has come.
        sent = {d["resource"]: d for d in status(orthanc)["sent"]
                if d["destination"] == "modality:pacs"}
        complete = set(sent) == studies and all(
            sent[s]["instances"] == count(orthanc, "studies", s) for s in studies)
        return sent if complete else {}

    sent = wait_for(all_sent, what="every study sent")
    for study in studies:
        assert count(peer, "studies", study) == count(orthanc, "studies", study)
        delivery = sent[study]
        assert delivery["state"] == "sent" and delivery["level"] == "Study"
        assert delivery["rule"] == "MR to the modality" and delivery["attempts"] == 1
        assert delivery["instances"] == count(orthanc, "studies", study)
        assert delivery["job"] and not delivery["failures"]
        assert orthanc.get(f"/jobs/{delivery['job']}").json()["Type"] == "DicomModalityStore"
    biggest = max(studies, key=lambda s: count(orthanc, "studies", s))
    assert count(peer, "studies", biggest) == 11
    orthanc.wait_for_log(f"auto-routing: sent the study {biggest} to modality:pacs (11 instance(s)")


def test_a_regex_rule_sends_to_the_orthanc_peer_and_no_rule_means_no_sending(orthanc, peer):
    (spine,) = upload_folder(orthanc, *SPINE_CR)
    (head,) = upload_folder(orthanc, HEAD_CT)
    delivery = wait_for(lambda: next((d for d in status(orthanc)["sent"]
                                      if d["resource"] == head and d["instances"] == 4), None),
                        what="the head CT sent")
    assert count(peer, "studies", head) == 4
    assert delivery["destination"] == "peer:backup" and delivery["rule"] == "head CT to the peer"
    assert orthanc.get(f"/jobs/{delivery['job']}").json()["Type"] == "OrthancPeerStore"

    # The spine CR study matches no rule: stable, and still nowhere else.
    wait_for(lambda: orthanc.get(f"/studies/{spine}").json()["IsStable"], what="a stable CR study")
    time.sleep(1.5)
    assert peer.get(f"/studies/{spine}").status == 404
    everything = status(orthanc)
    assert spine not in {d["resource"] for key in ("pending", "sent", "failed") for d in everything[key]}
    assert everything["rules"] == [
        {"name": "MR to the modality", "destinations": ["modality:pacs"]},
        {"name": "head CT to the peer", "destinations": ["peer:backup"]},
    ]
    assert everything["level"] == "Study"


def test_series_level_routes_only_the_matching_series(tmp_path):
    with running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        config = {
            "StableAge": 1,
            "DicomModalities": {"pacs": ["PEER", "127.0.0.1", peer.dicom_port]},
            "PythonRuntime": routing(Level="Series", Rules=[
                {"Match": {"SeriesDescription": "*pilot*"}, "Modalities": ["pacs"]}]),
        }
        with running_orthanc(tmp_path / "router", None, config) as orthanc:
            upload_folder(orthanc, BRAIN)
            pilots = [s["ID"] for s in orthanc.get("/series?expand").json()
                      if "PILOT" in s["MainDicomTags"].get("SeriesDescription", "")]
            assert len(pilots) == 2

            def sent() -> dict[str, int]:
                return {d["resource"]: d["instances"] for d in status(orthanc)["sent"]}

            wait_for(lambda: all(sent().get(s) == count(orthanc, "series", s) for s in pilots),
                     what="both series sent")
            assert set(sent()) == set(pilots)
            assert all(d["level"] == "Series" and d["rule"] == "rule 0"
                       for d in status(orthanc)["sent"])
            assert sorted(peer.get("/series").json()) == sorted(pilots)
            for series in pilots:
                assert count(peer, "series", series) == count(orthanc, "series", series)


def test_a_destination_that_stays_down_ends_failed_with_the_reason(tmp_path):
    config = {
        "StableAge": 1,
        "DicomModalities": {"down": ["DOWN", "127.0.0.1", free_port()]},
        "PythonRuntime": routing(Retries=1, RetryDelay=0.2,
                                 Rules=[{"Name": "all", "Modalities": ["down", "unknown"]}]),
    }
    with running_orthanc(tmp_path, None, config) as orthanc:
        study = orthanc.upload("CT_small.dcm")["ParentStudy"]
        failed = wait_for(lambda: len(status(orthanc)["failed"]) == 2 and status(orthanc)["failed"],
                          what="two failed deliveries")
        by_destination = {d["destination"]: d for d in failed}
        down = by_destination["modality:down"]
        assert down["resource"] == study and down["state"] == "failed"
        assert down["attempts"] == 2 and len(down["failures"]) == 2
        assert refused(down["reason"])
        assert all(f["job"] for f in down["failures"])  # each attempt was an Orthanc job
        unknown = by_destination["modality:unknown"]
        assert unknown["attempts"] == 2 and "Accessing an inexistent item" in unknown["reason"]
        assert status(orthanc)["counts"] == {"queued": 0, "pending": 0, "sent": 0, "failed": 2}
        log = orthanc.wait_for_log(f"auto-routing: gave up sending the study {study} to modality:down")
        assert f"sending the study {study} to modality:down failed (attempt 1 of 2)" in log


def test_the_study_arrives_once_the_destination_is_back(tmp_path):
    port = free_port()
    config = {
        "StableAge": 1,
        "DicomModalities": {"late": ["LATE", "127.0.0.1", port]},
        "PythonRuntime": routing(Retries=40, RetryDelay=0.3, RetryMaxDelay=0.5,
                                 Rules=[{"Modalities": ["late"]}]),
    }
    with running_orthanc(tmp_path / "router", None, config) as orthanc:
        uploaded = orthanc.upload("MR_small.dcm")
        pending = wait_for(lambda: [d for d in status(orthanc)["pending"] if d["failures"]],
                           what="a failed attempt")
        assert pending[0]["resource"] == uploaded["ParentStudy"]
        assert refused(pending[0]["reason"])
        assert pending[0]["state"] == "pending"

        with running_orthanc(tmp_path / "late", None, {"DicomPort": port}, name="late") as late:
            wait_for(lambda: late.get("/instances").json() == [uploaded["ID"]],
                     what="the instance at the destination, back")
            delivery = wait_for(lambda: status(orthanc)["sent"], what="a sent delivery")[0]
            assert delivery["attempts"] >= 2 and delivery["failures"]
            assert delivery["reason"] is None
            assert refused(delivery["failures"][0]["reason"])
            assert status(orthanc)["pending"] == []
