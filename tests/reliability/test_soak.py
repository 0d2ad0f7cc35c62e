"""Soak (`make soak`): 20,000 mixed requests, 32 clients, nothing lost, the master stable."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter

import psutil
import pytest

from tests.harness import running_orthanc, scripts_dir
from tests.reliability.conftest import wait_until
from tests.reliability.load import distinct_instances, hammer

pytestmark = pytest.mark.soak

TOTAL = 20_000
CLIENTS = 32


def test_soak(tmp_path):
    uploads = distinct_instances(TOTAL // 20)
    rng = random.Random(20261128)
    requests: list[tuple[str, str, bytes | None]] = []
    for n in range(TOTAL - len(uploads)):
        kind = rng.random()
        if kind < 0.45:
            requests.append(("GET", f"/rel/inline/{n}", None))
        elif kind < 0.8:
            requests.append(("GET", f"/rel/work/{n}?s=0", None))
        else:
            requests.append(("GET", f"/rel/proxied/{n}", None))
    for data in uploads:
        requests.insert(rng.randrange(len(requests)), ("POST", "/instances", data))

    # Orthanc caches stored files (MaximumStorageCacheSize, 128 MB by default): off, so that
    # the growth measured is the plugin's, not the cache filling up
    events = tmp_path / "events"
    events.mkdir()
    config = {"HttpThreadsCount": 64, "MaximumStorageCacheSize": 0,
              "ReliabilityEventsFolder": str(events),
              "PythonRuntime": {"Pool": {"Workers": 2}}}
    with running_orthanc(tmp_path, scripts_dir() / "reliability.py", config, verbose=False) as orthanc:
        master = psutil.Process(orthanc.process.process.pid)
        samples: list[tuple[int, float, int]] = []
        progress = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((progress[0], master.memory_info().rss / 2**20, master.num_fds()))
                time.sleep(0.2)

        def on_progress(done: int) -> None:
            progress[0] = done

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        results = hammer(orthanc.http_port, requests, CLIENTS, on_progress=on_progress)
        seconds = time.monotonic() - started
        stop.set()
        sampler.join()

        statuses = Counter(r.status for r in results)
        wrong = []
        for r in results:
            if r.status != 200:
                wrong.append((r.path, r.status))
            elif r.path != "/instances" and r.json()["n"] != int(r.path.split("/")[3].split("?")[0]):
                wrong.append((r.path, "wrong answer"))
        assert not wrong, wrong[:20]
        assert len(orthanc.get("/instances").json()) == len(uploads)  # every upload stored
        seen, _ = wait_until(lambda: len(orthanc.get("/rel/changes").json()["stored"]) == len(uploads)
                             and True, timeout=30)
        stored_ids = {r.json()["ID"] for r in results if r.path == "/instances"}

        def offloaded_saw(name: str) -> set[str]:
            path = events / name
            return {line.split()[0] for line in path.read_text().splitlines()} if path.exists() else set()

        wait_until(lambda: offloaded_saw("changes.log") >= stored_ids
                   and offloaded_saw("stored.log") >= stored_ids, timeout=120)
        lost = len(stored_ids - offloaded_saw("changes.log")) + len(stored_ids - offloaded_saw("stored.log"))
        print(f"\nevents: {len(stored_ids)} uploads, offloaded handlers lost {lost} event(s)")
        assert lost == 0

        quarter = TOTAL // 4
        first = [s for s in samples if s[0] < quarter] or samples[:1]
        last = [s for s in samples if s[0] >= TOTAL - quarter] or samples[-1:]
        rss_first, rss_last = statistics.median(s[1] for s in first), statistics.median(s[1] for s in last)
        fds_first, fds_last = statistics.median(s[2] for s in first), statistics.median(s[2] for s in last)
        print(f"\nsoak: {TOTAL} requests in {seconds:.1f} s ({TOTAL / seconds:.0f}/s), {dict(statuses)}; "
              f"master RSS {rss_first:.1f} -> {rss_last:.1f} MB, fds {fds_first:.0f} -> {fds_last:.0f}; "
              f"pool {orthanc.get('/runtime/status').json()['pool']['tasks']}")
        trace = [(s[0], round(s[1]), s[2]) for s in samples[::max(1, len(samples) // 25)]]
        print("trace (requests done, RSS MB, fds):", trace)
        assert rss_last <= rss_first * 1.10, (rss_first, rss_last)
        assert fds_last <= fds_first * 1.10, (fds_first, fds_last)
