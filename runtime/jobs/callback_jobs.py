"""The ``orthanc`` module's jobs, as the SDK defines them: a job built from callbacks.

``OrthancPluginCreateJob`` takes a job object and eight callbacks; in Python a
closure (or a bound method) carries the job's state, so ``orthanc.CreateJob``
takes the job's type and the callbacks, in the header's order::

    state = {'done': 0}

    def step():
        state['done'] += 1
        return orthanc.JobStepStatus.SUCCESS if state['done'] == 10 else orthanc.JobStepStatus.CONTINUE

    job = orthanc.CreateJob('Count', None, lambda: state['done'] / 10,
                            lambda: json.dumps(state), lambda: json.dumps(state),
                            step, lambda reason: None, lambda: state.update(done=0))
    job_id = orthanc.SubmitJob(job, 0)

    def unserialize(job_type, serialized):   # after a restart, with Orthanc's SaveJobs
        ...                                  # return orthanc.CreateJob(...), or None
    orthanc.RegisterJobsUnserializer(unserialize)

The callbacks run on the job's thread of Orthanc's job engine, in the master
(a job of callbacks cannot be offloaded: ``@job`` with ``@offload`` can).
Orthanc calls ``step`` until it returns something else than ``CONTINUE``, and
looks at pause and cancel requests between two steps. ``getContent`` and
``getSerialized`` return a JSON object (a str, or a dict); ``getSerialized``
may return None (the job is not saved); it must not use the key ``"Type"``,
which Orthanc adds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pool import in_worker
from runtime.enums import JobStepStatus, JobStopReason
from runtime.errors import NotInOrthanc
from runtime.registry import active
from runtime.sdk import transport

__all__ = ["Job", "CreateJob", "SubmitJob", "FreeJob", "RegisterJobsUnserializer"]


def _json_object(value: Any, what: str) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if not isinstance(json.loads(text), dict):
        raise TypeError(f"{what} must be a JSON object, not {text[:80]!r}")
    return text


class Job:
    """A job made of callbacks (``orthanc.CreateJob``); the native trampolines call its methods."""

    def __init__(self, job_type: str, finalize: Callable[[], Any] | None,
                 get_progress: Callable[[], float], get_content: Callable[[], Any],
                 get_serialized: Callable[[], Any] | None, step: Callable[[], Any],
                 stop: Callable[[JobStopReason], Any] | None,
                 reset: Callable[[], Any] | None) -> None:
        for name, value in (("getProgress", get_progress), ("getContent", get_content),
                            ("step", step)):
            if not callable(value):
                raise TypeError(f"CreateJob: {name} must be callable")
        self.type = job_type
        self._finalize, self._get_progress, self._get_content = finalize, get_progress, get_content
        self._get_serialized, self._step, self._stop, self._reset = get_serialized, step, stop, reset
        self.submitted: str | None = None

    def SubmitJob(self, priority: int = 0) -> str:
        return SubmitJob(self, priority)

    def FreeJob(self) -> None:
        FreeJob(self)

    # -- what Orthanc calls (sdk_jobs.cpp) --

    def step(self) -> int:
        return int(JobStepStatus(self._step()))

    def stop(self, reason: int) -> None:
        if self._stop is not None:
            self._stop(JobStopReason(reason))

    def reset(self) -> None:
        if self._reset is not None:
            self._reset()

    def progress(self) -> float:
        return float(self._get_progress())

    def content(self) -> str:
        return _json_object(self._get_content(), "the content of a job")

    def serialized(self) -> str | None:
        if self._get_serialized is None:
            return None
        value = self._get_serialized()
        return None if value is None else _json_object(value, "the serialization of a job")

    def finalize(self) -> None:
        if self._finalize is not None:
            self._finalize()


def CreateJob(jobType: str, finalize: Callable[[], Any] | None, getProgress: Callable[[], float],
              getContent: Callable[[], Any], getSerialized: Callable[[], Any] | None,
              step: Callable[[], Any], stop: Callable[[JobStopReason], Any] | None,
              reset: Callable[[], Any] | None) -> Job:
    """OrthancPluginCreateJob: a job of type ``jobType`` made of these callbacks."""
    return Job(jobType, finalize, getProgress, getContent, getSerialized, step, stop, reset)


def SubmitJob(job: Job, priority: int = 0) -> str:
    """OrthancPluginSubmitJob: hands the job to Orthanc's job engine; returns its id."""
    if not isinstance(job, Job):
        raise TypeError(f"SubmitJob needs a job made by orthanc.CreateJob, not {type(job).__name__}")
    if job.submitted is not None:
        raise ValueError(f"this job was submitted already (job {job.submitted})")
    if in_worker():
        raise NotInOrthanc("SubmitJob: a job of callbacks runs in the master; submit it from a "
                           "handler that is not offloaded, or use @job with @offload")
    job.submitted = str(transport.call("submit_job", job, job.type, int(priority)))
    return job.submitted


def FreeJob(job: Job) -> None:
    """OrthancPluginFreeJob: a job never submitted is simply dropped (Python frees it)."""


def RegisterJobsUnserializer(callback: Callable[[str, str], Job | None]) -> None:
    """Calls ``callback(jobType, serialized)`` for each saved job of a type @job does not declare.

    It returns a Job (``orthanc.CreateJob(...)``) or None if the type is not its own.
    """
    active().add_job_unserializer(callback)


def unserialize(job_type: str, serialized: str) -> Job | None:
    """The first job that a registered unserializer makes of this saved one (runtime.jobs)."""
    for callback in active().job_unserializers:
        job = callback(job_type, serialized)
        if job is not None:
            if not isinstance(job, Job):
                raise TypeError(f"a jobs unserializer returns orthanc.CreateJob(...) or None, "
                                f"not {type(job).__name__}")
            return job
    return None
