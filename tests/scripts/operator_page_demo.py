"""Handlers for tests/integration/test_operator_page*.py: inline and offloaded routes, two that
fail, an on-change handler and a job type, so that every part of the operator page has data."""

import os
import time

from runtime import ChangeType, JobStep, Request, job, jobs, offload, on_change, route

SEEN: list[str] = []


@route("/demo/inline")
def inline(request: Request):
    return {"pid": os.getpid()}


@route("/demo/offloaded")
@offload
def offloaded(request: Request):
    return {"pid": os.getpid()}


@route("/demo/slow")
@offload
def slow(request: Request):
    time.sleep(float(request.query.get("s", "0.05")))
    return {"pid": os.getpid()}


@route("/demo/fail-inline")
def fail_inline(request: Request):
    raise RuntimeError("operator_page_demo: the inline handler fails on purpose")


@route("/demo/fail-offloaded")
@offload
def fail_offloaded(request: Request):
    raise ValueError("operator_page_demo: the offloaded handler fails on purpose")


@on_change(ChangeType.NEW_INSTANCE)
def instance_seen(change):
    SEEN.append(change.resource_id)


@route("/demo/seen")
def seen(request: Request):
    return SEEN


@job("DemoCount")
def demo_count(n: int, delay: float, checkpoint=None):
    for index in range(n):
        time.sleep(delay)
        yield JobStep((index + 1) / n)
    return {"counted": n}


@route("/demo/job", methods=["POST"])
def start_job(request: Request):
    return {"ID": jobs.submit("DemoCount", n=int(request.query.get("n", "20")),
                              delay=float(request.query.get("delay", "0.2")))}
