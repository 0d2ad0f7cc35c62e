"""Runs of a job's handler: one start of the generator, until it ends or is asked to stop.

A job (runtime.jobs.EngineJob) starts a run when Orthanc steps it and none is under
way: again after a pause, a retry or a restart, from the last checkpoint::

    InlineRun     the generator in the master; advance() is one next(), on the
                  thread of Orthanc that steps the job
    OffloadedRun  the generator in a worker, for the whole run (run_in_worker):
                      worker                                master (a thread of the pool)
                      job_report(run, pid, STARTED) ------> the run knows its worker
                      each yield: job_report(run, pid, step) -> job.record(step);
                                  <------------------------ go on? (False: stop asked)
                      stop asked: generator.close(), JobStopped
                      at the end: job_report(run, pid, FINISHED): its worker is no
                                  longer the run's to end
                  advance() waits at most a tick for the run's future; a stop that
                  the handler does not honour within cancel_grace, or a step longer
                  than @offload(timeout=...), ends the worker's process group.

On a Dask cluster (runtime.worker.dask_cluster) the reports travel on Dask's event
channel and the answer "stop" comes back as a Dask Event: the run learns of a
stop one yield later, and a worker of the cluster cannot be ended (no pid).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.backends.protocol import RUN_FINISHED, RUN_STARTED
from runtime.errors import HandlerAborted
from runtime.sdk import transport

if TYPE_CHECKING:
    from runtime.jobs import EngineJob

RUN_TIMEOUT = 10 * 365 * 86400.0
"""The pool's timeout of a whole offloaded run: none, in effect; the handler's
``@offload(timeout=...)`` bounds each step instead."""

_UNSET: Any = object()

# What a worker reports besides its steps (a JobStep crosses as a 5-tuple).
STARTED = RUN_STARTED
FINISHED = RUN_FINISHED

remote_report: Callable[[int, Any], bool] | None = None
"""Set by runtime.worker.dask_cluster in a worker of a Dask cluster: how a run reports there."""


@dataclass(frozen=True)
class JobStep:
    """What a job handler may yield at the end of a step.

    ``progress`` (0 to 1) is what ``/jobs/{id}`` shows; ``status`` a small JSON
    value shown in its ``Content``; ``checkpoint`` a JSON value from which the
    handler can resume (after a pause or a restart of Orthanc). A bare number
    yielded is a progress.
    """

    progress: float | None = None
    status: Any = None
    checkpoint: Any = _UNSET

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint is not _UNSET


class JobStopped(Exception):
    """What an offloaded run answers when it was asked to stop at a yield."""


class StepTimeout(Exception):
    """An offloaded step ran longer than its handler's ``@offload(timeout=...)``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"a step took more than {seconds:g} s; its worker was ended")
        self.seconds = seconds

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.seconds,))


class InlineRun:
    """The handler in the master, one step per step of Orthanc, on the job's thread."""

    def __init__(self, job: EngineJob) -> None:
        self.job = job
        self.generator: Generator[Any, None, Any] | None = None

    def advance(self, tick: float) -> tuple[bool, Any]:

        try:
            if self.generator is None:
                started = self.job.call_handler()
                if not isinstance(started, Generator):
                    return True, started  # a plain function: a job of one step
                self.generator = started
            value = next(self.generator)
        except StopIteration as end:
            return True, end.value
        except Exception:
            raise
        except BaseException as error:  # sys.exit() in a handler must not end Orthanc's thread
            raise HandlerAborted(type(error).__name__) from error
        self.job.record(value)
        return False, None

    def stop(self) -> None:
        """Between two steps of Orthanc: the generator is closed now (its finally blocks run)."""
        if self.generator is not None:
            self.generator.close()
            self.generator = None


class OffloadedRun:
    """The handler in a worker of the pool, for as long as the run lasts."""

    def __init__(self, job: EngineJob, submit: Callable[..., Future[Any]]) -> None:
        """``submit(function, args, timeout)``: the session's Executor.submit_job_run."""
        owner = job.owner
        self.job = job
        self.id = next(owner.run_ids)
        self.pid: int | None = None  # the worker's, from its first report
        self.finished = False  # the worker said it is leaving the handler
        self.stop_requested = False
        self.timed_out = False
        self.last_report = time.monotonic()
        offload = job.type.offload
        self.step_timeout = offload.timeout if offload is not None else None
        runs = owner.runs
        runs[self.id] = self  # before the worker's first report
        try:
            self.future: Future[Any] = submit(
                run_in_worker, (job.type.handler, job.arguments, job.checkpoint,
                                job.type.takes_checkpoint, self.id), RUN_TIMEOUT)
        except BaseException:
            runs.pop(self.id, None)
            raise
        self.future.add_done_callback(lambda _f: runs.pop(self.id, None))

    def advance(self, tick: float) -> tuple[bool, Any]:
        from pool import WorkerCrashed  # only here: `import runtime` loads no pool

        try:
            return True, self.future.result(timeout=tick)
        except FutureTimeout:
            pass
        except WorkerCrashed:
            if self.timed_out:
                assert self.step_timeout is not None
                raise StepTimeout(self.step_timeout) from None
            raise
        # The step's time counts from the worker's last report: not while the run
        # waits for a free worker.
        if (self.step_timeout is not None and self.pid is not None and not self.timed_out
                and time.monotonic() - self.last_report > self.step_timeout):
            self.timed_out = True
            self.kill()
        return False, None

    def stop(self) -> OffloadedRun | None:
        """Asks the handler to stop at its next yield; ends its worker after the grace."""
        if self.future.done():
            return None
        self.stop_requested = True
        timer = threading.Timer(self.job.type.cancel_grace, self.kill)
        timer.daemon = True
        timer.name = "orthanc-runtime-job-grace"
        timer.start()
        self.future.add_done_callback(lambda _f: timer.cancel())
        return self

    def reported(self, pid: int | None, value: Any) -> bool:
        """The worker's report (runtime.jobs.Jobs.job_report): record it; False asks it to stop."""
        self.pid = pid
        self.last_report = time.monotonic()
        if isinstance(value, tuple) and value == FINISHED:
            self.finished = True
            return False
        if not (isinstance(value, tuple) and value == STARTED):
            self.job.record(_unportable(value))
        return not self.stop_requested

    def wait_ended(self, timeout: float) -> bool:
        try:
            self.future.exception(timeout=timeout)
        except FutureTimeout:
            return False
        return True

    def kill(self) -> None:
        """Ends the worker that runs this run, and its process group (the pool replaces it).

        Only while the worker is in the handler: once it said FINISHED, the pool
        may give it another task before this run's future is done.
        """
        pid = self.pid
        if pid is None or self.finished or self.future.done():
            return
        try:
            os.killpg(pid, signal.SIGKILL)  # a worker leads its own group (pool.worker)
        except (ProcessLookupError, PermissionError):
            pass


# -- the worker's side ---------------------------------------------------------------------------

def run_in_worker(handler: Callable[..., Any], arguments: dict[str, Any], checkpoint: Any,
                  takes_checkpoint: bool, run_id: int) -> Any:
    """Runs the handler in a worker; at each yield the master says whether to go on."""
    pid = os.getpid()
    if not _report(run_id, pid, STARTED):
        raise JobStopped()
    extra = {"checkpoint": checkpoint} if takes_checkpoint else {}
    try:
        result = handler(**arguments, **extra)
        if not isinstance(result, Generator):
            return result
        while True:
            try:
                value = next(result)
            except StopIteration as end:
                return end.value
            if not _report(run_id, pid, _portable(value)):
                result.close()
                raise JobStopped()
    except (Exception, JobStopped):
        raise
    except BaseException as error:
        raise HandlerAborted(type(error).__name__) from error
    finally:
        try:
            _report(run_id, pid, FINISHED)
        except Exception:
            pass  # the master is going away: nothing to tell it


def _report(run_id: int, pid: int, value: Any) -> bool:
    """Tells the master where the run is; its answer: go on?"""
    if remote_report is not None:
        return remote_report(run_id, value)
    return bool(transport.to_master("job_report", run_id, pid, value))


def _portable(value: Any) -> Any:
    """A yielded value as it crosses to the master (JobStep's "unset" does not pickle as itself)."""
    if isinstance(value, JobStep):
        return ("step", value.progress, value.status, value.has_checkpoint,
                value.checkpoint if value.has_checkpoint else None)
    return value


def _unportable(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 5 and value[0] == "step":
        _, progress, status, has, checkpoint = value
        return JobStep(progress, status, checkpoint if has else _UNSET)
    return value
