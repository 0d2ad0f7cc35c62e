"""Shared memory between Orthanc and its workers: names no one can take first, and no large leftovers.

Against a real Orthanc: another user (nobody) creates in advance the segment
names the pool used to take next, and large transfers still succeed; one
200 MB answer leaves neither a large segment in /dev/shm nor a large mapping
in Orthanc or its worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.harness import Orthanc, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "shared_memory.py"
MB = 1 << 20


def footprint_mb(master: int) -> float:
    """What the pool's segments of this Orthanc take in /dev/shm."""
    return sum(path.stat().st_size for path in Path("/dev/shm").glob(f"ortpool-{master}-*")) / MB


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


def pids(orthanc: Orthanc) -> tuple[int, list[int]]:
    assert orthanc.process.process is not None
    workers = orthanc.get("/runtime/status").json()["pool"]["workers"]["pids"]
    return orthanc.process.process.pid, workers


def test_names_taken_in_advance_by_another_user_do_not_fail_transfers(tmp_path):
    with running_orthanc(tmp_path, SCRIPT, {"PythonRuntime": {"Pool": {"Workers": 2}}}) as orthanc:
        master, _ = pids(orthanc)
        # The old scheme's next names for this master: serial, direction, generation.
        squatted = [f"ortpool-{master}-{serial}-{direction}-{generation}"
                    for serial in range(1, 9) for direction in ("m2w", "w2m")
                    for generation in range(1, 9)]
        script = ("import os, sys\nos.setgid(65534); os.setuid(65534)\n"
                  "for name in sys.argv[1:]:\n"
                  "    os.close(os.open('/dev/shm/' + name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))")
        subprocess.run([sys.executable, "-c", script, *squatted], check=True)
        try:
            statuses = []
            for size in (1, 2, 40, 2):
                for _ in range(5):
                    up = orthanc.post("/shm/echo", b"\x01" * (size * MB))
                    down = orthanc.get(f"/shm/make/{size}")
                    statuses += [up.status, down.status]
                    assert up.json() == {"size": size * MB, "head": "01" * 8}
                    assert len(down.body) == size * MB
            tasks = orthanc.get("/runtime/status").json()["pool"]["tasks"]
            print(f"\n{len(squatted)} names taken in advance by nobody; {len(statuses)} transfers "
                  f"of 1-40 MB: {statuses.count(200)} answered 200; workers crashed "
                  f"{tasks['crashed']}, tasks failed {tasks['failed']}")
            assert statuses.count(200) == len(statuses)
            assert tasks["crashed"] == 0 and tasks["failed"] == 0
            assert all(os.path.exists(f"/dev/shm/{name}") for name in squatted)  # left alone
        finally:
            for name in squatted:
                Path(f"/dev/shm/{name}").unlink(missing_ok=True)


def shm_mappings(pid: int) -> list[str]:
    """The pool's segments a process still maps (unlinked or not)."""
    with open(f"/proc/{pid}/maps") as maps:
        return [line.split(None, 5)[5].strip() for line in maps if "/dev/shm/ortpool" in line]


def test_a_200_mb_transfer_leaves_no_large_segment_nor_mapping_behind(tmp_path):
    with running_orthanc(tmp_path, SCRIPT, {"PythonRuntime": {"Pool": {"Workers": 1}}}) as orthanc:
        master, (worker,) = pids(orthanc)
        assert len(orthanc.get("/shm/make/2").body) == 2 * MB  # small segments, kept
        assert orthanc.post("/shm/echo", b"\x01" * (2 * MB)).status == 200
        master_before, worker_before = rss_mb(master), rss_mb(worker)
        upload = orthanc.post("/shm/echo", b"\x02" * (200 * MB))
        assert upload.json()["size"] == 200 * MB
        answer = orthanc.get("/shm/make/200")
        assert answer.status == 200 and len(answer.body) == 200 * MB
        del answer
        # Orthanc frees its copy of the answer once it is sent: poll, do not time.
        master_after = wait_for(lambda: (rss := rss_mb(master)) < master_before + 32 and rss,
                                what=f"Orthanc's RSS back under {master_before + 32:.0f} MB "
                                     f"(now {rss_mb(master):.0f})")
        worker_after, shm = rss_mb(worker), footprint_mb(master)
        print(f"\nafter a 200 MB upload and a 200 MB answer: /dev/shm {shm:.1f} MB; Orthanc RSS "
              f"{master_before:.0f} -> {master_after:.0f} MB; worker RSS {worker_before:.0f} -> "
              f"{worker_after:.0f} MB")
        assert shm < 32
        assert worker_after < worker_before + 32
        for pid in (master, worker):
            assert not [m for m in shm_mappings(pid) if m.endswith("(deleted)")], shm_mappings(pid)
