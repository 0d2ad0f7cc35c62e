"""Faults of the master: SIGTERM with work in flight, SIGKILL, Orthanc restarting itself."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil

from tests.harness import prepare, running_orthanc, scripts_dir, stop_and_check
from tests.reliability.conftest import wait_until
from tests.reliability.load import hammer

SCRIPT = scripts_dir() / "reliability.py"
CONFIG = {"PythonRuntime": {"Pool": {"Workers": 2}}}


def segments(pid: int) -> list[Path]:
    return list(Path("/dev/shm").glob(f"ortpool-{pid}-*"))


def test_sigterm_with_offloaded_requests_in_flight(tmp_path):
    server = prepare(tmp_path, SCRIPT, CONFIG)
    server.process.start(verbose=True)
    server.process.wait_ready()
    results: list = []
    load = threading.Thread(target=lambda: results.extend(
        hammer(server.http_port, [("GET", f"/rel/work/{n}?s=1", None) for n in range(4)], 4)))
    load.start()
    wait_until(lambda: server.get("/runtime/status").json()["pool"]["workers"]["busy"] == 2)
    children = server.children()
    server.process.process.send_signal(signal.SIGTERM)
    load.join(60)
    server.process.process.wait(30)
    # the two requests being served finish; the two waiting for a worker are answered too
    assert sorted(r.status for r in results) == [200, 200, 200, 200], [(r.status, r.body) for r in results]
    stop_and_check(server)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_sigkill_of_orthanc_leaves_no_worker_and_no_segment(tmp_path):
    server = prepare(tmp_path / "killed", SCRIPT, CONFIG)
    server.process.start(verbose=True)
    server.process.wait_ready()
    assert server.post("/rel/echo", b"x" * (4 << 20)).json() == {"size": 4 << 20}  # a segment exists
    pid = server.process.process.pid
    children = server.children()
    assert len(children) >= 3  # two workers, the fork server (and its resource tracker)
    assert segments(pid)
    os.kill(pid, signal.SIGKILL)
    server.process.process.wait(10)

    def all_gone():
        return not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

    _, seconds = wait_until(all_gone, timeout=5)
    leftover = segments(pid)
    # a killed master cannot unlink its segments; the next start removes them
    with running_orthanc(tmp_path / "next", SCRIPT, CONFIG) as orthanc:
        assert orthanc.get("/rel/work/1").status == 200
        assert not segments(pid)
    print(f"workers gone {seconds:.2f} s after SIGKILL; {len(leftover)} segment(s) left, removed at next start")


def test_orthanc_restarting_itself_brings_the_plugin_back(tmp_path):
    with running_orthanc(tmp_path, SCRIPT, CONFIG) as orthanc:
        first = orthanc.get("/rel/work/1").json()["pid"]
        assert orthanc.post("/tools/reset", "").status == 200
        wait_until(lambda: orthanc.log().count("orthanc-runtime: loaded") == 2, timeout=30)

        def serving():
            try:
                return orthanc.get("/rel/work/2").status == 200
            except OSError:
                return False

        wait_until(serving, timeout=30, step=0.2)
        assert orthanc.get("/rel/work/3").json()["pid"] != first  # a new pool
        uploaded = orthanc.upload("CT_small.dcm")
        # each handler has its own feed: wait for both, then check that each saw it once
        seen, _ = wait_until(lambda: (c := orthanc.get("/rel/changes").json())["changes"]
                             and c["stored"] and c)
        time.sleep(0.5)  # a handler registered twice would have recorded it twice by now
        seen = orthanc.get("/rel/changes").json()
        assert seen == {"changes": [uploaded["ID"]], "stored": [uploaded["ID"]]}  # handlers registered once
        results = hammer(orthanc.http_port, [("GET", f"/rel/work/{n}", None) for n in range(20)], 4)
        assert all(r.status == 200 for r in results)
