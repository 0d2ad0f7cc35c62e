"""Offloaded handlers on a Dask cluster (``"Pool": {"Backend": "dask"}``).

    Orthanc HTTP thread --run_route--> DaskBackend._submit --client.submit(runtime.worker.dask_cluster.run, ...)-->
        scheduler --> a dask worker: the handler; its SDK calls go to Orthanc's REST API with
        this Orthanc's token (runtime.sdk.remote), its logs come back on LOG_TOPIC
    Dask callback thread --_finished--> the task's concurrent Future: answer, or the pool's error
    "orthanc-runtime-dask-timeouts" thread --every 50 ms--> TaskMayStillRun past a task's deadline
    "orthanc-runtime-dask" thread --every 0.5 s--> the cluster's state; a new Client when the
        scheduler was lost; the worker plugin registered again on a new scheduler

One dict, ``_pending`` (key -> _Task), holds the tasks in flight; whoever
settles a task's future first (its end, its deadline, a lost scheduler,
Orthanc's stop) wins, the others find it done.

Failures answer as the local pool's (runtime.answers): a task runs at most
once (no retries, the scheduler's ``allowed_failures`` set to 0), a worker
that dies mid-task answers 502, a timeout 504 (Dask cannot stop a running
task: the log says it may still run), a lost scheduler 503 with Retry-After,
a full queue or too many requests waiting for the cluster 503.

``distributed`` is imported by runtime.backends.executor only when this backend is
chosen.
"""

from __future__ import annotations

import json
import pickle
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import distributed
from distributed.security import Security

from pool import PoolClosed, PoolFull, TaskTimeout, WorkerCrashed
from pool.errors import PoolError
from runtime import answers, context
from runtime.backends import tasks
from runtime.backends.dask_tasks import (
    JOB_TOPIC,
    LOG_TOPIC,
    OrthancWorkerPlugin,
    run,
    run_job,
    stop_event_name,
)
from runtime.backends.protocol import RUN_FINISHED
from runtime.http import Request, Response
from runtime.sdk import transport

# -- the cluster's errors, as the pool's (they answer the same statuses) ---------------------

class ClusterUnavailable(PoolFull):
    """The cluster's scheduler cannot be reached now; the backend reconnects by itself (503)."""

    def __init__(self, address: str, reason: str = "") -> None:
        PoolError.__init__(self, f"the Dask scheduler at {address} cannot be reached"
                           + (f" ({reason})" if reason else "") + "; retry later")
        self.limit = 0
        self.address = address
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.address, self.reason))


class ClusterBusy(PoolFull):
    """``limit`` offloaded requests already wait for the cluster, each on an Orthanc HTTP
    thread (503): more would leave none for the workers' own calls to Orthanc."""

    def __init__(self, limit: int) -> None:
        PoolError.__init__(self, f"{limit} offloaded requests already wait for the cluster "
                           f"(MaxWaitingRoutes={limit})")
        self.limit = limit


class TaskMayStillRun(TaskTimeout):
    """The task did not finish in ``seconds``; the cluster cannot stop it, it may still run."""

    def __init__(self, seconds: float, worker: str | None = None) -> None:
        PoolError.__init__(self, f"task did not finish within {seconds:g} s; it may still be "
                           f"running on the cluster{f' (worker {worker})' if worker else ''}")
        self.seconds = seconds
        self.pid = None
        self.worker = worker

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.seconds, self.worker))


class ClusterWorkerDied(WorkerCrashed):
    """The cluster's worker running the task died (its task is not run again: at most once)."""

    def __init__(self, worker: str | None) -> None:
        PoolError.__init__(self, f"the Dask worker {worker or '(unknown)'} died while running "
                           "the task")
        self.pid = 0
        self.exitcode = None
        self.detail = "while running the task"
        self.worker = worker

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.worker,))


# -- what they answer (runtime.answers' table) --------------------------------------------------

@answers.answer_errors(ClusterUnavailable)
def _cluster_unavailable(error: ClusterUnavailable, where: str, route: str) -> Response:
    answers.log_error(f"{where}: {answers.safe_str(error)}")
    return answers.error_response(503, "the cluster that runs this handler cannot be reached; "
                                  "retry later", route=route, type_name=type(error).__name__,
                                  headers={"Retry-After": "5"})


@answers.answer_errors(ClusterBusy)
def _cluster_busy(error: ClusterBusy, where: str, route: str) -> Response:
    return answers.error_response(503, "too many requests wait for the cluster; retry later",
                                  route=route, type_name=type(error).__name__,
                                  headers={"Retry-After": "1"})


@answers.answer_errors(TaskMayStillRun)
def _task_may_still_run(error: TaskMayStillRun, where: str, route: str) -> Response:
    error_id = answers.new_error_id()
    answers.log_error(f"{where}: {answers.safe_str(error)} [error id {error_id}]")
    return answers.error_response(
        504, f"the handler did not finish within {error.seconds:g} s; it may still be "
             "running on the cluster", route=route, type_name="TaskTimeout", error_id=error_id)


@answers.answer_errors(ClusterWorkerDied)
def _cluster_worker_died(error: ClusterWorkerDied, where: str, route: str) -> Response:
    error_id = answers.new_error_id()
    answers.log_error(f"{where}: {answers.safe_str(error)}; the task is not run again "
                      f"[error id {error_id}]")
    return answers.error_response(
        502, "the cluster's worker running the handler died; the handler was not run again",
        route=route, type_name="WorkerCrashed", error_id=error_id)


FAILURE_KINDS = ("failed", "timed_out", "crashed", "lost", "refused_full", "refused_busy",
                 "refused_unavailable", "closed")


@dataclass(eq=False)
class _Task:
    key: str
    future: Future[Any]
    timeout: float
    deadline: float
    dask_future: Any = None


def default_orthanc_url(configuration: dict[str, Any]) -> str:
    """http(s)://127.0.0.1:<HttpPort>: enough when the workers run on Orthanc's machine."""
    scheme = "https" if configuration.get("SslEnabled") else "http"
    return f"{scheme}://127.0.0.1:{int(configuration.get('HttpPort', 8042))}"


def max_waiting_routes(dask: dict[str, Any], configuration: dict[str, Any]) -> int:
    """``MaxWaitingRoutes``, by default half of Orthanc's HttpThreadsCount (50 by default)."""
    if "MaxWaitingRoutes" in dask:
        return int(dask["MaxWaitingRoutes"])
    return max(1, int(configuration.get("HttpThreadsCount", 50)) // 2)


class DaskBackend:
    """The script's offloaded handlers on the workers of a Dask cluster."""

    name = "dask"

    def __init__(self, section: dict[str, Any], modules: list[str]) -> None:
        pool = section["Pool"]
        dask = pool["Dask"]
        configuration_text = transport.call("GetConfiguration")
        configuration = json.loads(configuration_text)
        self.address: str = dask["Scheduler"]
        self.task_timeout = float(pool["TaskTimeout"])
        self.queue_limit = int(pool["QueueLimit"])
        self.connect_timeout = float(dask["ConnectTimeout"])
        self.resources: dict[str, float] | None = dict(dask.get("Resources") or {}) or None
        self.max_waiting_routes = max_waiting_routes(dask, configuration)
        threads = int(configuration.get("HttpThreadsCount", 50))
        if self.max_waiting_routes >= threads:
            transport.call("LogWarning", f"orthanc-runtime: Pool.Dask.MaxWaitingRoutes "
                         f"({self.max_waiting_routes}) is not below HttpThreadsCount ({threads}): "
                         "offloaded requests may hold every HTTP thread while their workers wait "
                         "for one to call Orthanc back, until their timeout")
        self.orthanc_url: str = dask.get("OrthancUrl") or default_orthanc_url(configuration)
        self.security: Security | None = None
        if self.address.startswith("tls://"):
            self.security = Security(tls_ca_file=dask["TlsCaFile"],
                                     tls_client_cert=dask["TlsCertFile"],
                                     tls_client_key=dask["TlsKeyFile"],
                                     require_encryption=True)
        self.deployment = secrets.token_hex(8)
        self._plugin = self._new_plugin(section, modules, configuration_text)
        self._client: distributed.Client | None = None
        self._scheduler_id: str | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, _Task] = {}
        self._waiting_routes = 0
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cluster: dict[str, Any] = {"workers": {}, "connected": False}
        self._last_error = ""
        self._stop_timer: threading.Timer | None = None
        # Jobs' reports, in order, off Dask's event loop (they may ask it to set an Event).
        self._job_reports = ThreadPoolExecutor(1, thread_name_prefix="orthanc-runtime-dask-jobs")
        self._stopped_runs: set[int] = set()
        self._master_functions: dict[str, Callable[..., Any]] = {}
        self.counts = {"submitted": 0, "done": 0, **dict.fromkeys(FAILURE_KINDS, 0)}
        self.reconnects = 0

    def _new_plugin(self, section: dict[str, Any], modules: list[str],
                    configuration_text: str) -> OrthancWorkerPlugin:
        import sys

        scripts: list[tuple[str, str, str]] = []
        recipes: list[str] = []
        for name in modules:
            module = sys.modules.get(name)
            filename = getattr(module, "__file__", None)
            if module is not None and filename and not name.startswith("recipes."):
                scripts.append((name, Path(filename).read_text(encoding="utf-8"), filename))
            else:
                recipes.append(name)
        return OrthancWorkerPlugin(
            self.deployment, self.orthanc_url, transport.call("GenerateRestApiAuthorizationToken"),
            section, configuration_text, transport.call("GetConfigurationPath"),
            transport.call("orthanc_version"), scripts, recipes)

    # -- the cluster --

    def start(self) -> None:
        """Connects and sets the cluster up; if the scheduler cannot be reached yet, says so in
        the log and keeps trying (offloaded calls answer 503 meanwhile)."""
        try:
            self._connect()
        except Exception as error:
            self._last_error = _describe(error)
            transport.call("LogError", f"orthanc-runtime: cannot reach the Dask scheduler at "
                         f"{self.address} ({self._last_error}); offloaded handlers answer 503 "
                         "until it can be reached, trying again every second")
        for target, name in ((self._supervise, "orthanc-runtime-dask"),
                             (self._watch_deadlines, "orthanc-runtime-dask-timeouts")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _connect(self) -> None:
        client = distributed.Client(self.address, security=self.security,
                                    timeout=self.connect_timeout, set_as_default=False,
                                    name=f"orthanc-runtime-{self.deployment}")
        try:
            self._prepare(client)
        except BaseException:
            client.close(timeout=self.connect_timeout)
            raise
        self._client = client

    def _prepare(self, client: distributed.Client) -> None:
        """A scheduler new to this Orthanc: at-most-once, the worker plugin, the logs."""
        retries = client.run_on_scheduler(_at_most_once())
        if retries:
            transport.call("LogWarning", f"orthanc-runtime: the Dask scheduler at {self.address} "
                         f"would run a task again after {retries} worker(s) died running it; set "
                         "to 0 for this scheduler so that a handler runs at most once (start it "
                         "with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0 to make it so)")
        client.register_plugin(self._plugin, name=self._plugin.name)
        client.subscribe_topic(LOG_TOPIC, self._log_from_worker)
        client.subscribe_topic(JOB_TOPIC, self._job_from_worker)
        info = client.scheduler_info(n_workers=-1)
        self._scheduler_id = info.get("id")
        self._set_cluster(info, connected=True)

    def _set_cluster(self, info: dict[str, Any], connected: bool) -> None:
        workers = {address: {"nthreads": w.get("nthreads", 0),
                             "resources": w.get("resources", {})}
                   for address, w in info.get("workers", {}).items()}
        self._cluster = {"workers": workers, "connected": connected}

    def _log_from_worker(self, event: Any) -> None:
        _, message = event
        if not isinstance(message, dict) or message.get("deployment") != self.deployment:
            return
        level = str(message.get("level"))
        text = f"dask worker {message.get('worker')}: {message.get('message')}"
        transport.call({"warning": "LogWarning", "error": "LogError"}.get(level, "LogInfo"),
                     text)

    def _job_from_worker(self, event: Any) -> None:
        _, message = event
        if isinstance(message, dict) and message.get("deployment") == self.deployment:
            self._job_reports.submit(self._job_report, int(message["run"]), message["value"])

    def _job_report(self, run_id: int, pickled: bytes) -> None:
        """A report of a job's run (runtime.jobs.runs); "stop" goes back as the run's Event."""
        value = pickle.loads(pickled)  # from the cluster's workers, as trusted as Orthanc
        go_on = self._master_functions["job_report"](run_id, None, value)
        client = self._client
        if client is None or client.status != "running":
            return
        stop = distributed.Event(stop_event_name(self.deployment, run_id), client=client)
        if value == RUN_FINISHED:
            if run_id in self._stopped_runs:
                self._stopped_runs.discard(run_id)
                stop.clear()  # the scheduler forgets it
        elif not go_on and run_id not in self._stopped_runs:
            self._stopped_runs.add(run_id)
            stop.set()

    def _supervise(self) -> None:
        """Watches the connection: a lost scheduler fails what was running (503), a new
        Client replaces a closed one, a new scheduler gets the worker plugin again."""
        while not self._closed.wait(0.5):
            client = self._client
            try:
                if client is None or client.status in ("closed", "closing"):
                    self._cluster = {"workers": {}, "connected": False}
                    if client is not None:
                        self._client = None
                        self._fail_all(ClusterUnavailable(self.address, "the connection closed"),
                                       "lost")
                    self._connect()
                    self.reconnects += 1
                    transport.call("LogWarning", "orthanc-runtime: connected again to the Dask "
                                 f"scheduler at {self.address}; worker plugin registered")
                elif client.status != "running":
                    self._cluster = {**self._cluster, "connected": False}
                    self._fail_all(ClusterUnavailable(self.address, "the connection was lost"),
                                   "lost")
                else:
                    info = client.scheduler_info(n_workers=-1)
                    if info.get("id") != self._scheduler_id:
                        self._fail_all(ClusterUnavailable(self.address, "the scheduler restarted"),
                                       "lost")
                        self._prepare(client)
                        self.reconnects += 1
                        transport.call("LogWarning", "orthanc-runtime: the Dask scheduler at "
                                     f"{self.address} is a new one; worker plugin registered")
                    else:
                        self._set_cluster(info, connected=True)
                self._last_error = ""
            except Exception as error:
                if self._closed.is_set():
                    return
                described = _describe(error)
                if described != self._last_error:
                    transport.call("LogWarning", "orthanc-runtime: the Dask scheduler at "
                                 f"{self.address} cannot be reached ({described}); trying again")
                self._last_error = described
                self._closed.wait(0.5)

    def _watch_deadlines(self) -> None:
        while not self._closed.wait(0.05):
            now = time.monotonic()
            with self._lock:
                late = [t for t in self._pending.values() if t.deadline <= now]
            for task in late:
                if self._settle(task, TaskMayStillRun(task.timeout), "timed_out"):
                    transport.call("LogWarning", f"orthanc-runtime: task {task.key} did not finish "
                                 f"within {task.timeout:g} s; it may still be running on the "
                                 "cluster (Dask cannot stop a running task)")
                    self._cancel(task)

    # -- tasks --

    def _submit(self, function: Callable[..., Any], args: tuple[Any, ...],
                timeout: float | None) -> _Task:
        if self._closed.is_set():
            self.counts["closed"] += 1
            raise PoolClosed("the Dask backend is stopped")
        client = self._client
        if client is None or client.status != "running" or not self._cluster["connected"]:
            self.counts["refused_unavailable"] += 1
            raise ClusterUnavailable(self.address, self._last_error)
        seconds = self.task_timeout if timeout is None else float(timeout)
        with self._lock:
            if len(self._pending) >= self.queue_limit + self.workers:
                self.counts["refused_full"] += 1
                raise PoolFull(self.queue_limit)
            key = f"orthanc-runtime-{getattr(function, '__name__', 'task')}-{secrets.token_hex(8)}"
            task = _Task(key, Future(), seconds, time.monotonic() + seconds)
            self._pending[key] = task
            self.counts["submitted"] += 1
        try:
            # as part of the caller's request: its handler's name and id for the worker's logs
            task.dask_future = client.submit(run, self.deployment, tasks.in_context,
                                             context.carried(), function, *args, key=key,
                                             pure=False, retries=0, resources=self.resources)
        except Exception as error:
            with self._lock:
                self._pending.pop(key, None)
            self.counts["refused_unavailable"] += 1
            raise ClusterUnavailable(self.address, _describe(error)) from error
        task.dask_future.add_done_callback(lambda f, task=task: self._finished(task, f))
        return task

    def _finished(self, task: _Task, dask_future: Any) -> None:
        """On Dask's callback thread: the task ended (or was cancelled, or lost)."""
        if task.future.done():
            return
        status = dask_future.status
        if status == "finished":
            try:
                result = dask_future.result(timeout=max(1.0, task.deadline - time.monotonic()))
            except Exception as error:
                self._settle(task, ClusterUnavailable(self.address, _describe(error)), "lost")
                return
            with self._lock:
                if self._pending.pop(task.key, None) is None:
                    return
            self.counts["done"] += 1
            task.future.set_result(result)
        elif status == "error":
            raised = dask_future.exception()
            if type(raised).__name__ == "KilledWorker":
                who = getattr(raised, "last_worker", None)
                address = getattr(who, "address", who)
                self._settle(task, ClusterWorkerDied(str(address) if address else None),
                             "crashed")
                return
            self._settle(task, raised, "failed")
        else:  # cancelled or lost: the scheduler went away, or someone cancelled it
            self._settle(task, ClusterUnavailable(self.address, f"the task was {status}"),
                         "lost")

    def _settle(self, task: _Task, error: BaseException, kind: str) -> bool:
        """Ends a task with ``error`` unless something else ended it first."""
        with self._lock:
            if self._pending.pop(task.key, None) is None:
                return False
        self.counts[kind] += 1
        task.future.set_exception(error)
        return True

    def _fail_all(self, error: BaseException, kind: str) -> None:
        with self._lock:
            tasks = list(self._pending.values())
        for task in tasks:
            self._settle(task, error, kind)

    def _cancel(self, task: _Task) -> None:
        client = self._client
        if task.dask_future is not None and client is not None and client.status == "running":
            try:
                client.cancel([task.dask_future], asynchronous=False)
            except Exception:
                pass  # the scheduler forgets it anyway once no client holds it

    def _wait(self, task: _Task) -> Any:
        return task.future.result()

    # -- the backend interface (runtime.backends.protocol) --

    @property
    def workers(self) -> int:
        """Threads of the cluster's workers (at least 1): how many tasks may run at once."""
        return max(1, sum(w["nthreads"] for w in self._cluster["workers"].values()))

    def run_route(self, handler: Callable[..., Any], request: Request,
                  timeout: float | None) -> Response:
        with self._lock:
            if self._waiting_routes >= self.max_waiting_routes:
                self.counts["refused_busy"] += 1
                raise ClusterBusy(self.max_waiting_routes)
            self._waiting_routes += 1
        try:
            task = self._submit(tasks.run_route, (tasks.HandlerRef.of(handler), request),
                                timeout)
            return self._wait(task)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self._waiting_routes -= 1

    def run_call(self, handler: Callable[..., Any], argument: Any, timeout: float | None) -> Any:
        task = self._submit(tasks.run_gate, (tasks.HandlerRef.of(handler), argument), timeout)
        return self._wait(task)

    def submit_event(self, handler: Callable[..., Any], event: Any,
                     timeout: float | None) -> Future[Any]:
        return self._submit(tasks.run_event, (tasks.HandlerRef.of(handler), event),
                            timeout).future

    def submit_job_run(self, handler: Callable[..., Any], args: tuple[Any, ...],
                       timeout: float) -> Future[Any]:
        """One run of an offloaded job; its reports come back on JOB_TOPIC."""
        job_handler, *rest = args
        return self._submit(run_job, (handler, tasks.HandlerRef.of(job_handler), *rest),
                            timeout).future

    def add_master_functions(self, functions: dict[str, Callable[..., Any]]) -> None:
        """A worker of the cluster reaches Orthanc over REST, not the master; of these, the
        backend calls ``job_report`` itself, for the reports that jobs' runs send as events."""
        self._master_functions.update(functions)

    def restart(self, section: dict[str, Any], modules: list[str]) -> DaskBackend:
        """Reloaded scripts: the worker plugin is registered again with their new source."""
        self._plugin = self._new_plugin(section, modules, self._plugin.configuration)
        client = self._client
        if client is not None and client.status == "running":
            client.register_plugin(self._plugin, name=self._plugin.name)
        return self

    def status(self) -> dict[str, Any]:
        with self._lock:
            in_flight = len(self._pending)
            waiting = self._waiting_routes
        workers = self._cluster["workers"]
        return {
            "backend": self.name,
            "scheduler": self.address,
            "connected": self._cluster["connected"],
            "orthanc_url": self.orthanc_url,
            "workers": {"total": len(workers),
                        "threads": sum(w["nthreads"] for w in workers.values()),
                        "addresses": sorted(workers)},
            "resources": self.resources or {},
            "tasks": {"in_flight": in_flight, **self.counts},
            "waiting_routes": waiting,
            "max_waiting_routes": self.max_waiting_routes,
            "queue_limit": self.queue_limit,
            "reconnects": self.reconnects,
        }

    def metrics(self) -> dict[str, float]:
        state = self.status()
        values = {
            "orthanc_runtime_dask_connected": 1.0 if state["connected"] else 0.0,
            "orthanc_runtime_dask_workers": float(state["workers"]["total"]),
            "orthanc_runtime_dask_reconnects": float(self.reconnects),
            "orthanc_runtime_dask_waiting_routes": float(state["waiting_routes"]),
        }
        for key, value in state["tasks"].items():
            values[f"orthanc_runtime_tasks_{key}"] = float(value)
        return values

    def orthanc_stopping(self, grace: float) -> None:
        if self._stop_timer is not None:
            return
        self._stop_timer = threading.Timer(max(0.0, grace - min(0.5, grace / 4)),
                                           self._fail_all, (PoolClosed("Orthanc is stopping"),
                                                            "closed"))
        self._stop_timer.name = "orthanc-runtime-grace"
        self._stop_timer.daemon = True
        self._stop_timer.start()

    def shutdown(self, grace: float | None = None) -> None:
        """Waits up to ``grace`` for the tasks in flight, then forgets the cluster: the worker
        plugin (and with it the token) is removed from the workers, the client closed."""
        if self._stop_timer is not None:
            self._stop_timer.cancel()
        deadline = time.monotonic() + (grace or 0.0)
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.02)
        self._closed.set()
        self._fail_all(PoolClosed("Orthanc is stopping"), "closed")
        client, self._client = self._client, None
        if client is not None:
            try:
                if client.status == "running":
                    client.unregister_worker_plugin(self._plugin.name)
            except Exception:
                pass  # a worker that never had it, or a scheduler gone
            try:
                client.close(timeout=2)
            except Exception:
                pass
        for thread in self._threads:
            thread.join(2)
        self._job_reports.shutdown(wait=False)


def _at_most_once() -> Callable[[Any], int]:
    """What runs on the scheduler so that a task whose worker dies is not run again.

    A closure, which cloudpickle sends by value. It answers the scheduler's
    setting before.
    """
    def at_most_once(dask_scheduler: Any) -> int:
        before = int(dask_scheduler.allowed_failures)
        dask_scheduler.allowed_failures = 0
        return before

    return at_most_once


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
