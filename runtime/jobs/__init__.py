"""Python jobs in Orthanc's job engine: ``@job`` handlers that Orthanc queues, shows and controls.

A job type is a generator function; each ``yield`` ends a step and may say
how far the job is, what it is doing, and a checkpoint to resume from. Orthanc's
job engine drives it like its own jobs (priority, ``ConcurrentJobs``, ``/jobs``,
pause, resume, cancel, resubmit, ``SaveJobs``)::

    submit(type, **arguments) --native.submit_job--> Orthanc's job engine: an EngineJob per job
    Orthanc's job thread --step() / stop(reason) / reset()--> EngineJob --> a run (runtime.jobs.runs)
        inline handler:   one next() of the generator per step, on that thread
        @offload handler: the generator in a worker; at each yield it reports the step to
                          the master, which answers whether to go on. step() waits at
                          most TICK for the run, then returns Continue, so that Orthanc
                          looks at pause and cancel requests (and reads the progress)
    Orthanc's SaveJobs  --serialized()--> arguments, checkpoint, how many checkpoints
    each checkpoint     --JobCheckpoints--> a global property of Orthanc's database: a
                                            kill -9 loses no checkpoint Orthanc saved late
    Orthanc's start     --unserialize(type, json)--> EngineJob; its first step takes the newer
                                          of the two checkpoints and runs from there

A pause, a cancel or Orthanc's stop end the running step at its next yield
(the generator is closed, so its ``finally`` blocks run); an offloaded step
that does not get there within the job type's ``cancel_grace`` is ended with
its worker. A resume starts the handler again from its last checkpoint; a
resubmit (after a failure or a cancel) starts it from the beginning, as
Orthanc's own jobs do.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from runtime import answers, context
from runtime.jobs.runs import InlineRun, JobStep, JobStopped, OffloadedRun, StepTimeout
from runtime.registry import JobType, Registry, active
from runtime.registry import invoke as invoking
from runtime.sdk import logs, transport
from runtime.sdk.properties import DurableProperty, PropertyId

F = TypeVar("F", bound=Callable[..., Any])

TICK = 0.2
"""Seconds a step of Orthanc waits for an offloaded run before it lets Orthanc
look at pause and cancel requests (and refresh the progress it shows)."""

# OrthancPluginJobStepStatus and OrthancPluginJobStopReason.
SUCCESS, FAILURE, CONTINUE = 1, 2, 3
STOP_SUCCESS, STOP_PAUSED, STOP_FAILURE, STOP_CANCELED = 1, 2, 3, 4

# -- the API -----------------------------------------------------------------------------------

def job(name: str, *, retries: int = 0, cancel_grace: float = 5.0) -> Callable[[F], F]:
    """Declare a type of job of Orthanc's job engine, run by the decorated generator.

    Example::

        @job('ExportStudy')
        @offload(timeout=60)          # steps in a worker; each step within 60 s
        def export_study(study_id, checkpoint=None):
            instances = sdk.rest_get(f'/studies/{study_id}/instances')
            for index in range(checkpoint or 0, len(instances)):
                ...                                    # one instance
                yield JobStep((index + 1) / len(instances), checkpoint=index + 1)
            return {'instances': len(instances)}      # the job's output

    The handler's keyword arguments are those given to :func:`submit`; they
    and the checkpoints must be JSON values. A ``checkpoint`` parameter
    receives the last checkpoint yielded (None the first time). ``retries``:
    how many times a run whose worker crashed, or whose step timed out, starts
    again from its last checkpoint before the job fails. ``cancel_grace``: the
    seconds an offloaded step has to reach its next ``yield`` after a pause or
    a cancel before its worker is ended.
    """
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    if cancel_grace < 0:
        raise ValueError(f"cancel_grace must be 0 or more seconds, not {cancel_grace}")

    def decorate(handler: F) -> F:
        add_job_type(name, handler, retries=retries, cancel_grace=cancel_grace)
        return handler

    return decorate


def add_job_type(name: str, handler: Callable[..., Any], *, retries: int = 0,
                 cancel_grace: float = 5.0) -> JobType:
    """The plain call under :func:`job`."""
    if not name or not isinstance(name, str):
        raise ValueError(f"a job type needs a name, not {name!r}")
    try:
        takes = "checkpoint" in inspect.signature(handler).parameters
    except (TypeError, ValueError):
        takes = False
    return active().add_job_type(JobType(name, handler, retries, cancel_grace, takes))


def submit(job_type: str, *, priority: int = 0, **arguments: Any) -> str:
    """Submit a job of ``job_type`` to Orthanc's job engine; returns Orthanc's job id.

    Works in a handler, inline or offloaded (from a worker, the master submits it).
    """
    _check_json(arguments, f"the arguments of a {job_type} job")
    if transport.in_worker_task():
        return str(transport.to_master("job_submit", job_type, priority, arguments))
    # Outside Orthanc, with no session, a table of its own: transport.call then raises
    # NotInOrthanc with the usual message.
    return (_active or Jobs(active())).submit(job_type, priority, arguments)


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be JSON values: {error}") from None


# -- one job of Orthanc's job engine -------------------------------------------------------------

class EngineJob:
    """The Python side of one Orthanc job; the native trampolines call its methods.

    Orthanc calls step, stop and reset on the job's thread, one at a time;
    the progress, content and serialization may be asked from other threads,
    and the reports of an offloaded run arrive on a thread of the pool: the
    lock guards what they share.
    """

    def __init__(self, owner: Jobs, job_type: JobType, arguments: dict[str, Any],
                 key: str | None = None, checkpoint: Any = None, checkpoints: int = 0,
                 progress_value: float = 0.0, status: Any = None, synced: bool = True) -> None:
        self.owner = owner
        self.type = job_type
        self.arguments = arguments
        self.key = key or uuid.uuid4().hex
        self.lock = threading.Lock()
        self.checkpoint = checkpoint
        self.checkpoints = checkpoints  # how many checkpoints the handler yielded in all
        self.progress_value = progress_value
        self.status = status
        self.output: Any = None
        self.error: str | None = None
        self.error_id: str | None = None
        self.steps = 0
        self.retried = 0
        self.run: InlineRun | OffloadedRun | None = None
        self.ending: OffloadedRun | None = None  # asked to stop, not ended yet
        self.synced = synced  # False until the durable checkpoint was read (a restored job)
        self.request_id = context.new_request_id()  # its steps' logs, in master and worker
        owner.table[self.key] = self

    # -- Orthanc's callbacks --

    def step(self) -> int:
        running = context.enter(self.type.name, self.request_id)
        try:
            return self._step()
        finally:
            context.leave(running)

    def _step(self) -> int:
        if self.ending is not None:
            if not self.ending.wait_ended(TICK):
                return CONTINUE
            self.ending = None
        if self.owner.stopping.is_set():
            time.sleep(TICK)  # Orthanc stops: the job stays running, to be saved as such
            return CONTINUE
        if not self.synced:
            self._take_durable_checkpoint()
        from pool import (  # only here: `import runtime` loads no pool
            PoolClosed,
            PoolFull,
            WorkerCrashed,
        )

        try:
            if self.run is None:
                if self.type.invoke is None:  # declared after the plugin bound its jobs (a test)
                    (self.owner.binder or invoking.inline_binder()).bind(self.type, "job")
                assert self.type.invoke is not None
                self.run = self.type.invoke(self)
            done, output = self.run.advance(TICK)
        except (PoolClosed, PoolFull, JobStopped):
            # Orthanc stops, or every worker is taken: the job stays running and tries again.
            self.run = None
            time.sleep(TICK)
            return CONTINUE
        except (WorkerCrashed, StepTimeout) as error:
            self.run = None
            if self.retried < self.type.retries:
                self.retried += 1
                _log("warning", f"{self._name()}: {error}; running it again from its last "
                     f"checkpoint ({self.retried} of {self.type.retries} retries)")
                return CONTINUE
            return self._fail(error)
        except Exception as error:
            self.run = None
            return self._fail(error)
        if not done:
            return CONTINUE
        self.run = None
        try:
            _check_json(output, "the output of a job")
        except TypeError as error:
            return self._fail(error)
        with self.lock:
            self.output = output
            self.progress_value = 1.0
        return SUCCESS

    def stop(self, reason: int) -> None:
        run, self.run = self.run, None
        if run is not None:
            ending = run.stop()
            if ending is not None:
                self.ending = ending
        if reason == STOP_SUCCESS:
            self.owner.durable.forget(self.key)

    def reset(self) -> None:
        """A resubmit: the job starts again from the beginning."""
        with self.lock:
            self.checkpoint = None
            self.checkpoints = 0
            self.progress_value = 0.0
            self.status = None
            self.output = None
            self.error = self.error_id = None
            self.steps = 0
            self.retried = 0
        self.owner.durable.forget(self.key)

    def progress(self) -> float:
        return self.progress_value

    def content(self) -> str:
        with self.lock:
            content: dict[str, Any] = {
                "Arguments": self.arguments, "Status": self.status, "Steps": self.steps,
                "Checkpoints": self.checkpoints, "Offloaded": self.type.offload is not None,
                "Handler": f"{self.type.handler.__module__}.{self.type.handler.__qualname__}",
            }
            if self.output is not None:
                content["Output"] = self.output
            if self.error is not None:
                content["Error"] = self.error
                content["ErrorId"] = self.error_id
            if self.retried:
                content["Retries"] = self.retried
            run = self.run
            if isinstance(run, OffloadedRun) and run.pid is not None:
                content["Worker"] = run.pid
        return json.dumps(content, default=repr)

    def serialized(self) -> str:
        with self.lock:
            return json.dumps({"Version": 1, "Key": self.key, "Arguments": self.arguments,
                               "Checkpoint": self.checkpoint, "Checkpoints": self.checkpoints,
                               "Progress": self.progress_value, "Status": self.status})

    def finalize(self) -> None:
        """Orthanc forgets the job (its history is full, or Orthanc stops)."""
        for run in (self.run, self.ending):
            if run is not None:
                run.stop()
        self.run = self.ending = None
        self.owner.table.pop(self.key, None)

    # -- what the handler yields --

    def record(self, value: Any) -> None:
        """A step ended with ``value`` (None, a number or a JobStep)."""
        if isinstance(value, bool) or not (value is None or isinstance(value, (int, float, JobStep))):
            raise TypeError(f"a job handler yields None, a number (its progress) or a JobStep, "
                            f"not {type(value).__name__}")
        step = value if isinstance(value, JobStep) else JobStep(progress=value)
        if step.status is not None:
            _check_json(step.status, "the status of a job")
        has_checkpoint = step.has_checkpoint
        if has_checkpoint:
            _check_json(step.checkpoint, "a checkpoint of a job")
        with self.lock:
            self.steps += 1
            if step.progress is not None:
                self.progress_value = min(1.0, max(0.0, float(step.progress)))
            if step.status is not None:
                self.status = step.status
            if has_checkpoint:
                self.checkpoint = step.checkpoint
                self.checkpoints += 1
                saved = (self.checkpoint, self.checkpoints)
        if has_checkpoint:
            self.owner.durable.save(self.key, *saved)

    def call_handler(self) -> Any:
        """Starts the handler from the last checkpoint: a generator, or a plain function's value."""
        extra = {"checkpoint": self.checkpoint} if self.type.takes_checkpoint else {}
        return self.type.handler(**self.arguments, **extra)

    # -- helpers --

    def _fail(self, error: BaseException) -> int:
        error_id = answers.new_error_id()
        answers.log_exception(self._name(), error, error_id)
        with self.lock:
            self.error = f"{type(error).__name__}: {answers.safe_str(error)}"
            self.error_id = error_id
        return FAILURE

    def _take_durable_checkpoint(self) -> None:
        self.synced = True
        saved = self.owner.durable.get(self.key)
        if saved is not None and saved[1] > self.checkpoints:
            with self.lock:
                self.checkpoint, self.checkpoints = saved

    def _name(self) -> str:
        return f"orthanc-runtime: job {self.type.name} ({self.type.handler.__qualname__})"


# -- durable checkpoints -----------------------------------------------------------------------

def _jobs_of(saved: dict[str, Any]) -> dict[str, Any]:
    return {"jobs": {str(k): list(v) for k, v in saved["jobs"].items()}}


class JobCheckpoints:
    """The last checkpoint of each job, in one global property (runtime.sdk.properties:
    PropertyId.JOB_CHECKPOINTS), written at each checkpoint.

    Orthanc saves its jobs every 10 s and at a clean stop; after a ``kill -9``
    its copy may be older than the handler's last checkpoint, which is kept
    here. Entries of jobs this process does not know are dropped at the first
    write (jobs saved by Orthanc are all restored before any step runs). This
    copy is a safety net: when Orthanc cannot be read or written, the error is
    logged and the job goes on from Orthanc's own copy.
    """

    def __init__(self, known: dict[str, EngineJob]) -> None:
        self._known = known  # the jobs of this start of the plugin
        self._property = DurableProperty(
            PropertyId.JOB_CHECKPOINTS, version=1, empty=lambda: {"jobs": {}}, validate=_jobs_of,
            if_unreadable="jobs resume from Orthanc's own copy")
        self._pruned = False

    def get(self, key: str) -> tuple[Any, int] | None:
        try:
            with self._property.locked() as value:
                entry = value["jobs"].get(key)
        except Exception as error:
            _log("error", f"orthanc-runtime: cannot read the job checkpoints ({error}); "
                 "jobs resume from Orthanc's own copy")
            return None
        return None if entry is None else (entry[0], int(entry[1]))

    def save(self, key: str, checkpoint: Any, count: int) -> None:
        try:
            with self._property.edit() as value:
                jobs = value["jobs"]
                if not self._pruned:
                    for stale in [k for k in jobs if k not in self._known]:
                        del jobs[stale]
                    self._pruned = True
                jobs[key] = [checkpoint, count]
        except Exception as error:
            _log("error", f"orthanc-runtime: cannot save a job checkpoint: {error}")

    def forget(self, key: str) -> None:
        try:
            with self._property.edit() as value:
                value["jobs"].pop(key, None)
        except Exception as error:
            _log("error", f"orthanc-runtime: cannot save a job checkpoint: {error}")

    def reset_cache(self) -> None:
        self._property.forget()
        self._pruned = False


# -- the jobs of one start of the plugin ----------------------------------------------------------

class Jobs:
    """The jobs of one start of the plugin (runtime.plugin.session owns it): Orthanc's jobs
    that run our handlers (``table``), their offloaded runs, their durable checkpoints, and
    whether Orthanc stops."""

    def __init__(self, registry: Registry, binder: invoking.Binder | None = None) -> None:
        self.registry = registry
        self.binder = binder  # how a job type's runs start: in the master, or in a worker
        self.table: dict[str, EngineJob] = {}
        self.durable = JobCheckpoints(self.table)
        self.runs: dict[int, OffloadedRun] = {}
        self.run_ids = itertools.count(1)
        self.stopping = threading.Event()
        """Set when Orthanc stops: runs end at their next yield, and no run starts."""

    def bind(self, handlers: Registry) -> None:
        """Gives each job type its invoker (runtime.registry.invoke), once, at registration."""
        assert self.binder is not None
        for job_type in handlers.job_types.values():
            self.binder.bind(job_type, "job")

    def submit(self, job_type: str, priority: int, arguments: dict[str, Any]) -> str:
        found = self.registry.job_types.get(job_type)
        if found is None:
            raise LookupError(f"no job type {job_type!r} is declared "
                              f"(known: {sorted(self.registry.job_types)})")
        return str(transport.call("submit_job", EngineJob(self, found, dict(arguments)),
                                  found.name, int(priority)))

    def unserialize(self, type_name: str, serialized: str) -> Any:
        """A job Orthanc saved (``SaveJobs``), back as an EngineJob; None if it is not one of
        ours.

        A type no ``@job`` declares goes to the unserializers of the ``orthanc``
        module (``orthanc.RegisterJobsUnserializer``).
        """
        found = self.registry.job_types.get(type_name)
        if found is None:
            from runtime.jobs import callback_jobs

            return callback_jobs.unserialize(type_name, serialized)
        data = json.loads(serialized)
        if not isinstance(data, dict) or "Key" not in data:
            return None
        return EngineJob(self, found, dict(data.get("Arguments") or {}), key=str(data["Key"]),
                         checkpoint=data.get("Checkpoint"),
                         checkpoints=int(data.get("Checkpoints", 0)),
                         progress_value=float(data.get("Progress", 0.0)),
                         status=data.get("Status"), synced=False)

    def master_functions(self) -> dict[str, Callable[..., Any]]:
        """What workers call in the master: their runs' reports, their submissions."""
        return {"job_report": self.job_report, "job_submit": self._job_submit}

    def _job_submit(self, job_type: str, priority: int, arguments: dict[str, Any]) -> str:
        _check_json(arguments, f"the arguments of a {job_type} job")
        return self.submit(job_type, priority, arguments)

    def job_report(self, run_id: int, pid: int | None, value: Any) -> bool:
        """The master's side of a run's report (runtime.jobs.runs): record it; False asks the
        worker to stop.

        ``pid`` None: the run is on a Dask cluster, where the master cannot end it.
        A step that ended is recorded even when a stop was asked meanwhile: its
        checkpoint is what the job resumes from.
        """
        run = self.runs.get(run_id)
        if run is None:
            return False
        return run.reported(pid, value) and not self.stopping.is_set()

    def start(self) -> None:
        self.stopping.clear()
        self.durable.reset_cache()

    def orthanc_stopping(self) -> None:
        """Orthanc stops: running steps end at their next yield; the jobs stay running, to be
        saved."""
        self.stopping.set()

    def stop(self, deadline: float) -> None:
        """Asks every offloaded run to stop at its next yield and waits for them, until
        ``deadline``; the pool ends the rest."""
        self.stopping.set()
        for run in list(self.runs.values()):
            run.stop_requested = True
        for run in list(self.runs.values()):
            run.wait_ended(max(0.0, deadline - time.monotonic()))


def _offloaded_runs(binder: invoking.Binder, handler: Callable[..., Any],
                    timeout: float | None) -> Callable[[EngineJob], OffloadedRun]:
    return functools.partial(OffloadedRun, submit=binder.executor.submit_job_run)


# A run of an inline job steps its generator on Orthanc's job thread; an offloaded one
# runs it in a worker, which reports each step (runtime.jobs.runs).
invoking.RUNS["job"] = invoking.How(lambda handler: InlineRun, _offloaded_runs)

_active: Jobs | None = None


def activate(owner: Jobs | None) -> None:
    """The jobs that ``submit`` adds to: the running session's (runtime.plugin.session)."""
    global _active
    _active = owner


def _log(level: str, message: str) -> None:
    logs.write(level, message)
