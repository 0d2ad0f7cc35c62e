"""Events are never lost: bursts, SIGTERM, kill -9 and restarts (docs/reliability.md, "Events").

Two offloaded handlers (on-stored-instance and on-change NEW_INSTANCE, 50 ms
each, 2 workers) record every event they see. Every acknowledged upload must
reach both, at least once, whatever happens to Orthanc in between.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import prepare, running_orthanc, scripts_dir, wait_until
from tests.reliability.load import Result, distinct_instances, hammer

SCRIPT = scripts_dir() / "events_durable.py"
CLIENTS = 32


def config(folder: Path, **pool: object) -> dict[str, object]:
    return {
        "EventsTestFolder": str(folder),
        "EventsTestDelay": 0.05,
        "StableAge": 3600,  # no stable events: the test counts instances only
        "HttpThreadsCount": 64,
        "PythonRuntime": {"Pool": {"Workers": 2, **pool}},
    }


def seen(folder: Path, name: str) -> Counter[str]:
    path = folder / name
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line)


def acknowledged(results: list[Result]) -> set[str]:
    return {r.json()["ID"] for r in results if r.status == 200}


def wait_delivered(folder: Path, ids: set[str], timeout: float) -> float:
    def done() -> bool:
        return ids <= set(seen(folder, "stored.log")) and ids <= set(seen(folder, "changes.log"))
    try:
        return wait_until(done, timeout=timeout, step=0.2, what="every event delivered")[1]
    except AssertionError:
        stored, changes = seen(folder, "stored.log"), seen(folder, "changes.log")
        raise AssertionError(f"of {len(ids)} acknowledged uploads, on-stored-instance saw "
                             f"{len(ids & set(stored))}, on-change {len(ids & set(changes))}") from None


def report(what: str, folder: Path, ids: set[str]) -> None:
    stored, changes = seen(folder, "stored.log"), seen(folder, "changes.log")
    print(f"\n{what}: {len(ids)} acknowledged uploads; on-stored-instance saw "
          f"{len(ids & set(stored))} ({sum(stored.values()) - len(stored)} twice), on-change "
          f"{len(ids & set(changes))} ({sum(changes.values()) - len(changes)} twice)")


def upload_all(port: int, files: list[bytes]) -> list[Result]:
    return hammer(port, [("POST", "/instances", data) for data in files], CLIENTS, timeout=30)


@pytest.mark.integration
def test_a_burst_delivers_every_event_to_every_handler(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    files = distinct_instances(600, per_study=50, template_name="MR_small.dcm")
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config(records)) as orthanc:
        started = time.monotonic()
        results = upload_all(orthanc.http_port, files)
        uploaded = time.monotonic() - started
        ids = acknowledged(results)
        assert len(ids) == 600, Counter(r.status for r in results)
        took = wait_delivered(records, ids, timeout=180)
        status = orthanc.get("/runtime/status").json()
        print(f"\n600 uploads from {CLIENTS} clients in {uploaded:.1f} s; every event delivered "
              f"{took:.1f} s after the last upload; status: {status['events']}")
        report("burst", records, ids)
        assert all(feed["failed"] == 0 for feed in status["events"])
        # Each change of the log is read once, although the offloaded handlers lag far behind
        # the uploads (a feed that read its page again after every change read 60 times more).
        last = orthanc.get("/changes?last").json()["Last"]
        assert all(feed["changes_read"] <= last for feed in status["events"]), (last, status)


def _burst_then(tmp_path: Path, stop: str, grace: float) -> None:
    """Uploads a burst, stops Orthanc 1.5 s into it (``term`` or ``kill``), starts it again."""
    records = tmp_path / "records"
    records.mkdir()
    files = distinct_instances(600, per_study=50, template_name="MR_small.dcm")
    folder = tmp_path / "orthanc"
    first = prepare(folder, SCRIPT, config(records, ShutdownGrace=grace))
    first.process.start(verbose=True)
    first.process.wait_ready(60)
    process = first.process.process
    assert process is not None
    results: list[Result] = []
    uploader = threading.Thread(target=lambda: results.extend(upload_all(first.http_port, files)))
    uploader.start()
    time.sleep(1.5)
    stopped = time.monotonic()
    process.send_signal(signal.SIGKILL if stop == "kill" else signal.SIGTERM)
    code = process.wait(grace + 30)
    exited = time.monotonic() - stopped
    uploader.join(120)
    ids = acknowledged(results)
    print(f"\n{stop}: Orthanc exited with {code} after {exited:.1f} s; {len(ids)} uploads "
          f"acknowledged; the handlers had seen {len(ids & set(seen(records, 'stored.log')))} "
          f"and {len(ids & set(seen(records, 'changes.log')))} of them")
    assert ids, "no upload was acknowledged before the stop"
    if stop == "term":
        assert code == 0, first.log()[-3000:]
        assert exited < grace + 5
    # The same storage, a new start: what the handlers had not seen arrives now.
    with running_orthanc(folder, SCRIPT, config(records, ShutdownGrace=grace)):
        took = wait_delivered(records, ids, timeout=180)
        print(f"after the new start, every event delivered within {took:.1f} s")
        report(stop, records, ids)


@pytest.mark.integration
def test_sigterm_during_a_burst_loses_no_event(tmp_path):
    _burst_then(tmp_path, "term", grace=3)


@pytest.mark.integration
def test_kill_9_during_a_burst_loses_no_event(tmp_path):
    _burst_then(tmp_path, "kill", grace=3)
