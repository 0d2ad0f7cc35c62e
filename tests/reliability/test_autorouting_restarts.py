"""Auto-routing routes every study once, whatever happens to Orthanc (docs/reliability.md).

Studies are uploaded continuously to an Orthanc whose auto-routing sends every
stable study (``StableAge`` 2) to a second Orthanc, its peer; 6 s in, the
router is stopped (``kill -9``, SIGTERM or ``POST /tools/reset``) and started
again on the same storage. Every acknowledged instance must reach the peer,
and no study may be sent twice (each send is a line of the router's log).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import Orthanc, prepare, running_orthanc, wait_until
from tests.reliability.load import distinct_instances

STUDIES_FOR = 6.0  # seconds of uploads before the stop
PER_STUDY = 3


class Uploader(threading.Thread):
    """Uploads studies, one after the other, until told to stop; keeps what was acknowledged."""

    def __init__(self, server: Orthanc) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.halt = threading.Event()
        self.instances: Counter[str] = Counter()  # study -> instances acknowledged

    def run(self) -> None:
        while not self.halt.is_set():
            for data in distinct_instances(PER_STUDY):
                try:
                    answer = self.server.post("/instances", data, timeout=10)
                except OSError:
                    continue
                if answer.status == 200:
                    self.instances[answer.json()["ParentStudy"]] += 1
            time.sleep(0.2)


def router_config(peer: Orthanc) -> dict[str, object]:
    return {
        "StableAge": 2,
        "OrthancPeers": {"peer": [peer.url + "/"]},
        "PythonRuntime": {"Recipes": {"AutoRouting": {
            "Enabled": True, "PollInterval": 0.5, "RetryDelay": 1,
            "Rules": [{"Name": "everything", "Peers": ["peer"]}]}}},
    }


def arrived(peer: Orthanc, study: str) -> int:
    answer = peer.get(f"/studies/{study}/instances")
    return len(answer.json()) if answer.status == 200 else 0


def sends(*logs: str) -> Counter[str]:
    """How many store jobs the recipe started for each study."""
    found: Counter[str] = Counter()
    for text in logs:
        found.update(re.findall(
            r"auto-routing: sending the study ([0-9a-f-]+) to peer:peer \(attempt", text))
    return found


def lost_jobs(*logs: str) -> Counter[str]:
    """Store jobs that Orthanc lost in a kill -9, before it had saved them (it saves its jobs
    a moment after they start): whether they had sent the study, nobody can tell, so the
    recipe sends it again. The destination stores the same instances (same UIDs) again."""
    found: Counter[str] = Counter()
    for text in logs:
        found.update(re.findall(
            r"sending the study ([0-9a-f-]+) to peer:peer failed [^\n]*is gone from Orthanc",
            text))
    return found


def duplicated_at(peer: Orthanc, router: Orthanc, studies: Counter[str]) -> list[str]:
    """Studies with more instances at the peer than at the router: content sent twice."""
    def count(server: Orthanc, study: str) -> int:
        answer = server.get(f"/studies/{study}/instances")
        return len(answer.json()) if answer.status == 200 else 0
    return [s for s in studies if count(peer, s) > count(router, s)]


@pytest.mark.integration
@pytest.mark.parametrize("stop", ["kill", "term", "reset"])
def test_every_study_is_routed_once_across_a_stop(tmp_path: Path, stop: str) -> None:
    with running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        folder = tmp_path / "router"
        logs: list[str] = []
        if stop == "reset":
            with running_orthanc(folder, None, router_config(peer)) as router:
                uploader = Uploader(router)
                uploader.start()
                time.sleep(STUDIES_FOR)
                assert router.post("/tools/reset", "").status == 200
                uploader.halt.set()
                uploader.join(30)
                wait_until(lambda: router.log().count("orthanc-runtime: loaded") == 2, timeout=30)
                missing = _wait_routed(peer, uploader.instances)
                duplicated = duplicated_at(peer, router, uploader.instances)
                logs.append(router.log())
        else:
            first = prepare(folder, None, router_config(peer))
            first.process.start(verbose=True)
            first.process.wait_ready(60)
            process = first.process.process
            assert process is not None
            uploader = Uploader(first)
            uploader.start()
            time.sleep(STUDIES_FOR)
            process.send_signal(signal.SIGKILL if stop == "kill" else signal.SIGTERM)
            uploader.halt.set()
            code = process.wait(60)
            uploader.join(30)
            if stop == "term":
                assert code == 0
            logs.append(first.log())
            first.log_path.rename(folder / "orthanc-first.log")
            with running_orthanc(folder, None, router_config(peer)) as router:
                missing = _wait_routed(peer, uploader.instances)
                duplicated = duplicated_at(peer, router, uploader.instances)
                logs.append(router.log())
        counted, lost = sends(*logs), lost_jobs(*logs)
        twice = {study: n for study, n in counted.items() if n - lost[study] > 1}
        studies = uploader.instances
        print(f"\n{stop}: {len(studies)} studies ({sum(studies.values())} instances) "
              f"acknowledged; never sent: {len(missing)}; sent twice: {len(twice)}; sent again "
              f"after Orthanc lost the store job in the crash: {len(lost)}; more instances at "
              f"the peer than at the router: {len(duplicated)}")
        assert not missing, f"studies never routed: {missing}"
        assert not twice, f"studies sent more than once: {twice}"
        assert not duplicated, f"studies duplicated at the peer: {duplicated}"
        assert set(counted) == set(studies)
        if stop != "kill":
            assert not lost


def _wait_routed(peer: Orthanc, studies: Counter[str], timeout: float = 60) -> list[str]:
    def missing() -> list[str]:
        return [s for s, n in studies.items() if arrived(peer, s) < n]
    try:
        wait_until(lambda: not missing(), timeout=timeout, step=0.5)
    except AssertionError:
        pass
    return missing()
