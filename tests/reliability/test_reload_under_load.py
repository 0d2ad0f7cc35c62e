"""Reload on save under load: 20 reloads that add and remove routes while clients keep calling.

Each reload adds a route and removes the previous one, so that every reload
registers a route with Orthanc while its HTTP threads are busy in the
plugin (a registration made while holding the GIL deadlocked Orthanc), and
each starts a new pool while offloaded requests run or wait in the old one
(which must finish them, not close under them).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from pathlib import Path

from tests.harness import Orthanc

RELOADS = 20
CLIENTS = 6

SCRIPT = '''
import time
from runtime import offload, route

@route("/load/inline")
def inline(request):
    end = time.perf_counter() + 0.002  # holds the GIL a little, as real handlers do
    while time.perf_counter() < end:
        pass
    return {{"v": {v}}}

@route("/load/offloaded")
@offload
def offloaded(request):
    time.sleep(0.03)
    return {{"v": {v}}}

@route("/load/added-{v}")
def added(request):
    return {{"added": {v}}}
'''

CONFIG = {"PythonRuntime": {"Reload": True, "Pool": {"Workers": 2}}}


def write(folder: Path, v: int) -> None:
    (folder / "reload_load.py").write_text(SCRIPT.format(v=v))


def status_of(orthanc: Orthanc, path: str) -> int:
    try:
        return orthanc.get(path, timeout=5).status
    except (OSError, http.client.HTTPException):
        return 0


def test_twenty_reloads_under_load_neither_hang_nor_fail_a_request(tmp_path, orthanc_factory):
    write(tmp_path, 0)
    orthanc = orthanc_factory(tmp_path / "reload_load.py", CONFIG)
    stop = threading.Event()
    # (path, started, ended, status): status 0 is no answer within 20 s (a hang) or a broken
    # connection
    done: list[tuple[str, float, float, int]] = []
    paths = ["/load/inline", "/load/offloaded", "/load/offloaded", "/system",
             "/load/offloaded", "/load/inline"]

    def client(path: str) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = orthanc.get(path, timeout=20).status
            except (OSError, http.client.HTTPException):
                status = 0
            done.append((path, started, time.monotonic(), status))

    clients = [threading.Thread(target=client, args=(paths[i % len(paths)],), daemon=True)
               for i in range(CLIENTS)]
    for thread in clients:
        thread.start()
    reloads: list[tuple[float, float]] = []  # (saved, answering)
    try:
        for v in range(1, RELOADS + 1):
            time.sleep(0.3)  # some load on the old handlers first
            saved = time.monotonic()
            write(tmp_path, v)
            deadline = saved + 20
            while status_of(orthanc, f"/load/added-{v}") != 200:
                assert time.monotonic() < deadline, \
                    f"reload {v}: the added route does not answer within 20 s (a hang?)"
                time.sleep(0.05)
            reloads.append((saved, time.monotonic()))
            assert status_of(orthanc, f"/load/added-{v - 1}") == 404 or v == 1, \
                f"reload {v}: the removed route still answers"
    finally:
        stop.set()
        for thread in clients:
            thread.join(30)
    assert not any(t.is_alive() for t in clients), "a client never got an answer"
    statuses = Counter(status for *_, status in done)
    # Every request answers 2xx, in particular those in flight across a reload: they finish
    # on their old handlers, or move to the new pool if they had not reached a worker yet.
    across = [(path, status) for path, started, ended, status in done
              if any(started < answering and ended > saved for saved, answering in reloads)]
    bad = [(path, status) for path, _, _, status in done if not 200 <= status < 300]
    assert not bad, f"{len(bad)} of {len(done)} requests failed ({len(across)} across a " \
        f"reload): {statuses}"
    assert len(across) >= RELOADS, "too few requests ran across a reload to test anything"
    offloaded = sum(1 for path, *_ in done if path == "/load/offloaded")
    # Orthanc still answers, its own routes and the script's, and stops on SIGTERM (the
    # fixture checks exit 0 within 30 s).
    assert orthanc.get("/system").status == 200
    assert orthanc.get("/load/inline").json() == {"v": RELOADS}
    assert orthanc.get("/load/offloaded").json() == {"v": RELOADS}
    took = [answering - saved for saved, answering in reloads]
    slowest = max(ended - started for _, started, ended, _ in done)
    print(f"\n{RELOADS} reloads under {CLIENTS} clients: {len(done)} requests "
          f"({offloaded} offloaded, {len(across)} in flight during a reload), all 2xx; the "
          f"slowest {slowest:.2f} s; save -> new route answering {min(took):.2f}-{max(took):.2f} s")
