"""Job types for tests/integration/test_jobs.py and tests/reliability/test_jobs_restarts.py.

Each step appends a line to ``<JobsTestFolder>/<tag>.log`` (appends of short
lines are atomic, so workers may write at once): the tests read there what was
done, and how many times.
"""

import os
import signal
import time
from pathlib import Path
from typing import Any

from runtime import JobStep, Request, job, jobs, offload, route, sdk

_folder: list[Path] = []


def _record(tag: str, line: str) -> None:
    if not _folder:
        _folder.append(Path(sdk.configuration()["JobsTestFolder"]))
    descriptor = os.open(_folder[0] / f"{tag}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(descriptor, f"{line} {os.getpid()} {time.time():.3f}\n".encode())
    finally:
        os.close(descriptor)


def _count(n: int, delay: float, tag: str, checkpoint: Any) -> Any:
    for index in range(checkpoint or 0, n):
        time.sleep(delay)
        _record(tag, str(index))
        yield JobStep((index + 1) / n, status={"done": index + 1}, checkpoint=index + 1)
    return {"counted": n, "tag": tag}


@job("Count")
@offload(timeout=30)
def count(n: int, delay: float, tag: str, checkpoint: Any = None) -> Any:
    return (yield from _count(n, delay, tag, checkpoint))


@job("CountInline")
def count_inline(n: int, delay: float, tag: str, checkpoint: Any = None) -> Any:
    return (yield from _count(n, delay, tag, checkpoint))


@job("Fail")
@offload
def fail(at: int) -> Any:
    for index in range(at):
        yield index / (at + 1)
    raise ValueError(f"bad input at step {at}")


@job("FailInline")
def fail_inline(at: int) -> Any:
    for index in range(at):
        yield index / (at + 1)
    raise ValueError(f"bad input at step {at}")


@job("Hang", cancel_grace=1)
@offload(timeout=600)
def hang(tag: str) -> Any:
    _record(tag, "started")
    yield 0.1
    try:
        time.sleep(3600)  # a step that never reaches its next yield
    finally:
        _record(tag, "finally")  # not reached: the worker is ended
    yield 0.5


@job("Suicide")
@offload
def suicide(tag: str) -> Any:
    _record(tag, "started")
    yield 0.1
    os.kill(os.getpid(), signal.SIGKILL)
    yield 0.5


@job("SuicideOnce", retries=1)
@offload
def suicide_once(tag: str, checkpoint: Any = None) -> Any:
    _record(tag, f"run from {checkpoint}")
    if checkpoint is None:
        yield JobStep(0.5, checkpoint=1)
        os.kill(os.getpid(), signal.SIGKILL)
    yield JobStep(1.0, checkpoint=2)
    return {"survived": True}


@job("Slow")
@offload(timeout=1)
def slow(tag: str) -> Any:
    _record(tag, "started")
    yield 0.5
    time.sleep(60)  # a step longer than its timeout
    _record(tag, "woke")
    yield 1.0


@job("Plain")
def plain(value: int) -> Any:
    return {"twice": 2 * value}


@route("/jobs-test/submit/{job_type}", methods=["POST"])
def submit(request: Request) -> Any:
    body = request.json()
    return {"ID": jobs.submit(request.params["job_type"], priority=body.get("Priority", 0),
                              **body["Arguments"])}


@route("/jobs-test/submit-from-worker/{job_type}", methods=["POST"])
@offload
def submit_from_worker(request: Request) -> Any:
    body = request.json()
    return {"ID": jobs.submit(request.params["job_type"], **body["Arguments"]), "pid": os.getpid()}
