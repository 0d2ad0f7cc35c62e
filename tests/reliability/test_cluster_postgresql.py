"""Several Orthancs on one PostgreSQL index (docs/cluster.md): what each server does.

A real PostgreSQL (Debian's 15, on loopback, in a temporary folder), and two Orthanc
servers with Debian's orthanc-postgresql index plugin and ours, on one database and one
shared storage folder:

- ``worker`` runs the event handlers (``"Cluster": {"EventHandlers": ["*"]}``): an
  offloaded ``@on_stored_instance`` handler, and auto-routing to a third Orthanc, the
  peer (SQLite, a plain destination);
- ``front`` only ingests (``"EventHandlers": []``), and runs a ``@job``.

Studies of 3 instances are uploaded to both (REST to both, storescu to the front); one
server (the front, with its job running, or the worker) gets ``kill -9`` mid-way and
starts again. Then every
acknowledged instance must have been handled, by the worker only; every study must reach
the peer, sent once; the job must resume on the front only, and finish.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Orthanc, prepare, running_orthanc, scripts_dir, stop_and_check, wait_for
from tests.postgresql import PostgreSQL, available, running_postgresql
from tests.reliability.load import distinct_instances
from tests.reliability.test_autorouting_restarts import lost_jobs, sends

SCRIPT = scripts_dir() / "cluster_demo.py"
PER_STUDY = 3
STEPS = 25

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


def server_config(database: PostgreSQL, identity: str, storage: Path, records: Path,
                  peer: Orthanc, handlers: list[str] | None) -> dict[str, Any]:
    from orthanc_native import plugin_path

    config = database.orthanc_config()
    config["Plugins"] = [*config["Plugins"], str(plugin_path())]
    runtime: dict[str, Any] = {
        "Pool": {"Workers": 1, "ShutdownGrace": 3},
        "Recipes": {"AutoRouting": {
            "Enabled": True, "PollInterval": 0.5, "RetryDelay": 1,
            "Rules": [{"Name": "everything", "Peers": ["peer"]}]}}}
    if handlers is not None:
        runtime["Cluster"] = {"EventHandlers": handlers}
    return {
        **config,
        "DatabaseServerIdentifier": identity,
        "StorageDirectory": str(storage),
        "ClusterTestFolder": str(records),
        "StableAge": 2,
        "SaveJobs": True,
        "OrthancPeers": {"peer": [peer.url + "/"]},
        "PythonRuntime": runtime,
    }


def start(folder: Path, config: dict[str, Any], name: str) -> Orthanc:
    server = prepare(folder, SCRIPT, config, name=name)
    server.process.start(verbose=True)
    server.process.wait_ready(90)
    return server


class Uploads(threading.Thread):
    """Studies of PER_STUDY instances to the servers in turn (REST), until told to stop;
    ``acknowledged`` study -> instance ids Orthanc answered 200 for."""

    def __init__(self, servers: list[Orthanc]) -> None:
        super().__init__(daemon=True)
        self.servers = servers
        self.halt = threading.Event()
        self.acknowledged: dict[str, set[str]] = {}
        self.by_server: Counter[str] = Counter()
        self.unanswered = 0  # uploads cut by a kill: stored or not, the client cannot know

    def run(self) -> None:
        turn = 0
        while not self.halt.is_set():
            server = self.servers[turn % len(self.servers)]
            turn += 1
            for data in distinct_instances(PER_STUDY):
                try:
                    answer = server.post("/instances", data, timeout=10)
                except OSError:  # the server was killed: not acknowledged
                    self.unanswered += 1
                    continue
                if answer.status == 200:
                    found = answer.json()
                    self.acknowledged.setdefault(found["ParentStudy"], set()).add(found["ID"])
                    self.by_server[server.config["DatabaseServerIdentifier"]] += 1
            time.sleep(0.1)


def storescu(server: Orthanc, folder: Path, studies: int) -> int:
    """Sends ``studies`` new studies with dcmtk's storescu; how many files it sent."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, data in enumerate(distinct_instances(studies * PER_STUDY, per_study=PER_STUDY)):
        path = folder / f"{index}.dcm"
        path.write_bytes(data)
        paths.append(str(path))
    done = subprocess.run(["storescu", "-aec", server.config["DicomAet"], "127.0.0.1",
                           str(server.dicom_port), *paths], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return len(paths)


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line] if path.exists() else []


def instances_at(server: Orthanc) -> set[str]:
    return set(server.get("/instances").json())


@pytest.mark.integration
@pytest.mark.parametrize("killed", ["front", "worker"])
def test_two_servers_on_one_postgresql_share_the_work_as_configured(
        tmp_path: Path, killed: str) -> None:
    records = tmp_path / "records"
    records.mkdir()
    storage = tmp_path / "storage"
    with running_postgresql() as database, \
            running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        roles = {"worker": ["*"], "front": []}

        def launch(name: str) -> Orthanc:
            return start(tmp_path / name, server_config(database, name, storage, records, peer,
                                                        roles[name]), name)

        servers = {name: launch(name) for name in roles}
        before_kill = ""
        try:
            answer = servers["front"].post("/cluster-test/count",
                                           json.dumps({"n": STEPS, "delay": 0.3}))
            assert answer.status == 200, answer.text
            job = answer.json()["ID"]
            uploads = Uploads(list(servers.values()))
            uploads.start()
            sent_by_storescu = storescu(servers["front"], tmp_path / "dicom", 2)
            time.sleep(4)
            steps_before = len(lines(records / "steps.log"))
            process = servers[killed].process.process
            assert process is not None
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            before_kill = servers[killed].log()
            servers[killed].log_path.rename(tmp_path / killed / "orthanc-killed.log")
            servers[killed] = launch(killed)
            uploads.servers = list(servers.values())
            time.sleep(4)
            uploads.halt.set()
            uploads.join(30)
            sent_by_storescu += storescu(servers["front"], tmp_path / "dicom2", 1)
            worker, front = servers["worker"], servers["front"]

            stored = instances_at(worker)
            acknowledged = set().union(*uploads.acknowledged.values())
            assert acknowledged <= stored
            # An upload cut by the kill may have been stored before its answer was lost.
            assert len(acknowledged) + sent_by_storescu <= len(stored) \
                <= len(acknowledged) + sent_by_storescu + uploads.unanswered

            def handled() -> Counter[str]:
                return Counter(line[0] for line in lines(records / "handled.log"))
            wait_for(lambda: stored <= set(handled()), timeout=90, step=0.5,
                     what="every stored instance handled")
            wait_for(lambda: instances_at(peer) >= stored, timeout=90, step=0.5,
                     what="every instance at the peer")

            def ended() -> dict[str, Any] | None:
                found = front.get(f"/jobs/{job}").json()
                return found if found["State"] in ("Success", "Failure") else None
            final = wait_for(ended, timeout=90, step=0.5, what="the job's end")
            time.sleep(2)  # what a second server would do late, it has done by now

            by_server = Counter(line[1] for line in lines(records / "handled.log"))
            counts = handled()
            studies = Counter(worker.get(f"/instances/{i}/study").json()["ID"] for i in stored)
            statuses = {name: server.get("/runtime/status").json()
                        for name, server in servers.items()}
            logs = {name: server.log() + (before_kill if name == killed else "")
                    for name, server in servers.items()}
            routed_by = {name: sends(text) for name, text in logs.items()}
            lost = lost_jobs(logs["worker"])
            steps = lines(records / "steps.log")
            print(f"\nkill -9 of the {killed}: {len(stored)} instances ({len(acknowledged)} by "
                  f"REST: {dict(uploads.by_server)}; {sent_by_storescu} by storescu) in "
                  f"{len(studies)} studies; handled by {dict(by_server)}, "
                  f"{sum(counts.values()) - len(counts)} twice; studies sent by the worker "
                  f"{sum(routed_by['worker'].values())} (again after a store job lost in the "
                  f"kill: {len(lost)}), by the front {sum(routed_by['front'].values())}; job: "
                  f"{final['State']}, {len(steps)} steps ({steps_before} before the kill) on "
                  f"{dict(Counter(s[1] for s in steps))}")
            print("statuses: " + json.dumps({k: v.get("cluster") for k, v in statuses.items()}))

            # Each instance handled at least once, by the server whose role it is (twice only
            # for what the killed handler's last checkpoint interval had not saved).
            assert set(by_server) == {"worker"}, by_server
            assert stored <= set(counts)
            if killed == "front":
                assert sum(counts.values()) == len(counts)
            # Each study routed once across the servers: by the worker, once (again only when
            # Orthanc lost the store job in the worker's kill: test_autorouting_restarts.py).
            assert not routed_by["front"], routed_by["front"]
            assert set(routed_by["worker"]) == set(studies)
            twice = {s: n for s, n in routed_by["worker"].items() if n - lost[s] > 1}
            assert not twice, f"studies sent more than once: {twice}"
            assert instances_at(peer) == stored
            # The job ran and resumed on its own server only, and finished.
            assert final["State"] == "Success", final
            assert worker.get(f"/jobs/{job}").status == 404
            assert {s[1] for s in steps} == {"front"}
            assert {s[0] for s in steps} == {str(i) for i in range(STEPS)}
            assert len(steps) - STEPS <= 1
            # Each server says who it is and what it runs; a restart after kill -9 is the
            # same server again, not a second one with its identity.
            for name, status in statuses.items():
                assert status["cluster"]["identity"] == name
                assert status["cluster"]["identity_clash"] is None
            assert statuses["front"]["cluster"]["event_handlers"] == []
            assert statuses["front"]["events"] == []
            assert [f["handler"] for f in statuses["worker"]["events"]] == \
                ["recipes.autorouting.on_event", "cluster_demo.handled"]
        finally:
            for server in servers.values():
                if server.process.process is not None and server.process.process.poll() is None:
                    stop_and_check(server)


@pytest.mark.integration
def test_without_roles_every_server_handles_every_change_and_routes_every_study(
        tmp_path: Path) -> None:
    """What happens by default (and before Cluster.EventHandlers existed): each server keeps
    its own checkpoints and journal (per-server global properties) and reads the shared
    change log, so each change is handled, and each study sent, once by every server."""
    records = tmp_path / "records"
    records.mkdir()
    with running_postgresql() as database, \
            running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        servers = []
        try:
            for name in ("one", "two"):
                servers.append(start(tmp_path / name, server_config(
                    database, name, tmp_path / "storage", records, peer, None), name))
            stored: set[str] = set()
            for server in servers:
                for data in distinct_instances(2 * PER_STUDY, per_study=PER_STUDY):
                    stored.add(server.upload(data))
            wait_for(lambda: Counter(line[0] for line in lines(records / "handled.log"))
                     == Counter({i: 2 for i in stored}), timeout=60, step=0.5,
                     what="every instance handled by both servers")
            wait_for(lambda: all(len(sends(s.log())) == 4 for s in servers), timeout=60, step=0.5,
                     what="every study sent by both servers")
            by: dict[str, set[str]] = {line[0]: set() for line in lines(records / "handled.log")}
            for instance, server in lines(records / "handled.log"):
                by[instance].add(server)
            print(f"\n{len(stored)} instances in 4 studies, 2 uploaded to each server: each "
                  f"handled by {sorted(set(map(frozenset, by.values())), key=len)}; studies sent "
                  f"by one: {len(sends(servers[0].log()))}, by two: {len(sends(servers[1].log()))}")
            assert all(names == {"one", "two"} for names in by.values())
            assert sends(servers[0].log()) == sends(servers[1].log())
            assert set(servers[0].get("/runtime/status").json()["cluster"]["runs"]) == \
                {"recipes.autorouting.on_event", "cluster_demo.handled"}
            for server in servers:  # each was told, at its start, what running everything means
                assert "is shared (PostgreSQL: \"Lock\": false) and this server runs every " \
                    "event handler" in server.log()
        finally:
            for server in servers:
                stop_and_check(server)


@pytest.mark.integration
def test_two_servers_with_one_identity_are_told_in_the_log_and_the_status(tmp_path: Path) -> None:
    """Two servers given the same DatabaseServerIdentifier share our global properties: each
    overwrites the other's checkpoints. Their heartbeats notice it."""
    records = tmp_path / "records"
    records.mkdir()
    with running_postgresql() as database, \
            running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        twins = []
        try:
            for name in ("a", "b"):
                twins.append(start(tmp_path / name, server_config(
                    database, "twin", tmp_path / "storage", records, peer, []), name))

            def clashes() -> list[Any]:
                return [s.get("/runtime/status").json()["cluster"]["identity_clash"]
                        for s in twins]
            found = wait_for(lambda: all(clashes()) and clashes(), timeout=30, step=0.5,
                             what="both servers noticing the other")
            assert {clash["http_port"] for clash in found} == {s.http_port for s in twins}
            for server in twins:
                assert "another Orthanc server uses this server's identity 'twin'" in server.log()
        finally:
            for server in twins:
                stop_and_check(server)
