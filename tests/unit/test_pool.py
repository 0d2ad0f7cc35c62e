"""The pool runs tasks and serves their calls back: the everyday paths."""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from collections.abc import Iterator

import pool_tasks as tasks
import pytest
from pool_tasks import PoolFactory, assert_healthy, pool_factory, wait_until

from pool import (
    Pool,
    PoolError,
    PoolFull,
    RemoteError,
    RemoteTraceback,
    UnknownMasterFunction,
    WorkerStartFailed,
    call_master,
    in_worker,
)

# These start worker processes: `pytest -m "not slow"` leaves them out for a quick loop.
pytestmark = pytest.mark.slow


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    with pool_factory() as factory:
        yield factory


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_runs_tasks_with_args_and_kwargs(make_pool: PoolFactory, start_method: str) -> None:
    pool = make_pool(workers=2, start_method=start_method)
    assert pool.run(tasks.add, (2, 3)) == 5
    assert pool.run(tasks.echo, (1, "a"), {"k": [1, 2]}) == ((1, "a"), {"k": [1, 2]})
    in_child, pid = pool.run(tasks.whereami)
    assert in_child and pid != os.getpid()
    assert not in_worker()
    status = pool.status()
    assert status["size"] == 2 and status["tasks"]["done"] == 3
    assert status["latency_ms"]["count"] == 3
    assert_healthy(pool)


def test_workers_are_ready_after_start_and_ran_the_initializer(make_pool: PoolFactory) -> None:
    pool = make_pool(
        workers=2,
        initializer=tasks.initialize,
        preload=["colorsys"],
        executable=sys.executable,
    )
    assert pool.status()["workers"]["idle"] == 2
    pid = pool.run(tasks.getpid)
    assert pool.run(tasks.initialized) == [pid]
    # Preloaded by the fork server, before the worker was forked.
    assert pool.run(tasks.modules_loaded, ("colorsys",)) == [True]
    assert_healthy(pool)


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_preloaded_modules_see_in_worker_at_import(
    make_pool: PoolFactory, start_method: str
) -> None:
    # pool_tasks is found through a sys.path entry that pytest added at run time.
    pool = make_pool(workers=1, start_method=start_method, preload=["pool_tasks"])
    assert pool.run(tasks.how_imported) == (True, start_method == "forkserver")
    assert tasks.IMPORTED_IN_WORKER is False


def test_start_raises_when_the_initializer_fails(make_pool: PoolFactory) -> None:
    with pytest.raises(WorkerStartFailed, match="initializer refuses") as info:
        make_pool(workers=2, initializer=tasks.failing_initializer)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "failing_initializer" in str(info.value.__cause__.__cause__)


@pytest.mark.parametrize(
    ("options", "message", "exitcode"),
    [
        ({"preload": ["no_such_module_at_all"]}, "ModuleNotFoundError", 1),
        # any exception: the fork server survives it, the worker reports it
        ({"preload": ["pool_broken_module"]}, "refuses to be imported", 1),
        ({"initializer": tasks.dying_initializer}, "died during start-up", 5),
    ],
)
def test_start_raises_when_a_worker_cannot_start(
    make_pool: PoolFactory, options: dict[str, object], message: str, exitcode: int
) -> None:
    with pytest.raises(WorkerStartFailed, match=message) as info:
        make_pool(workers=2, **options)
    assert info.value.exitcode == exitcode


def test_run_needs_start_and_start_is_once(make_pool: PoolFactory) -> None:
    pool = Pool(workers=1)
    with pytest.raises(PoolError, match="not started"):
        pool.run(tasks.add, (1, 2))
    pool.shutdown()
    started = make_pool(workers=1)
    with pytest.raises(PoolError, match="already started"):
        started.start()


def test_fork_is_refused() -> None:
    with pytest.raises(ValueError, match="forkserver"):
        Pool(workers=1, start_method="fork")


def test_task_exception_comes_back_with_the_worker_traceback(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    with pytest.raises(ValueError, match="bad value") as info:
        pool.run(tasks.raise_value_error, ("bad value",))
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "raise_value_error" in str(cause) and "pool_tasks.py" in str(cause)
    assert pool.status()["tasks"]["failed"] == 1
    assert_healthy(pool)


@pytest.mark.parametrize("task", [tasks.raise_unpicklable, tasks.raise_with_lock])
def test_unpicklable_exception_becomes_remote_error(make_pool: PoolFactory, task: object) -> None:
    pool = make_pool(workers=1)
    with pytest.raises(RemoteError) as info:
        pool.run(task)  # type: ignore[arg-type]
    assert info.value.type_name in ("pool_tasks.NeedsTwoArguments", "RuntimeError")
    assert info.value.traceback and isinstance(info.value.__cause__, RemoteTraceback)
    assert_healthy(pool)


def test_unpicklable_argument_or_result_leaves_the_worker_usable(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    with pytest.raises(TypeError):
        pool.run(tasks.echo, (threading.Lock(),))
    with pytest.raises(PoolError, match="could not be sent"):
        pool.run(tasks.return_unpicklable)
    assert pool.run(tasks.add, (1, 1)) == 2
    assert_healthy(pool)


def test_calls_back_to_the_master(make_pool: PoolFactory) -> None:
    seen = []

    def record(value: int, *, scale: int = 1) -> int:
        seen.append((threading.get_ident(), value))
        return value * scale

    pool = make_pool(workers=2, master_functions={"record": record})
    assert pool.run(tasks.ask_master, ("record", 4), {"scale": 10}) == 40
    assert pool.run(tasks.ask_master_many, ("record", 50)) == list(range(50))
    # Served on the caller's thread: no hop to another thread.
    assert {ident for ident, _ in seen} == {threading.get_ident()}
    assert_healthy(pool)


SUBMITTER: contextvars.ContextVar[str] = contextvars.ContextVar("submitter", default="none")


def test_a_submitted_tasks_calls_back_see_the_submitters_context(make_pool: PoolFactory) -> None:
    """What the caller set in its context variables (a request's id, say) holds while the pool's
    thread serves a submitted task's calls back."""
    pool = make_pool(workers=1, master_functions={"who": lambda: SUBMITTER.get()})
    futures = []
    for name in ("first", "second"):
        token = SUBMITTER.set(name)
        try:
            futures.append(pool.submit(tasks.ask_master, ("who",)))
        finally:
            SUBMITTER.reset(token)
    assert [f.result(timeout=30) for f in futures] == ["first", "second"]
    assert_healthy(pool)


def test_master_function_errors_reach_the_worker(make_pool: PoolFactory) -> None:
    class Unpicklable(Exception):
        pass

    def fails() -> None:
        raise KeyError("no such instance")

    def fails_local() -> None:
        raise Unpicklable("local class")

    pool = make_pool(workers=1, master_functions={"fails": fails, "fails_local": fails_local})
    kind, message, cause = pool.run(tasks.ask_master_and_catch, ("fails",))
    assert (kind, message) == ("KeyError", "'no such instance'")
    assert "in fails" in cause
    kind, message, _ = pool.run(tasks.ask_master_and_catch, ("fails_local",))
    assert kind == "RemoteError" and "local class" in message
    kind, message, _ = pool.run(tasks.ask_master_and_catch, ("nope",))
    assert kind == "UnknownMasterFunction" and "'nope'" in message and "fails_local" in message
    with pytest.raises(UnknownMasterFunction):
        pool.run(tasks.ask_master, ("nope",))
    assert_healthy(pool)


def test_call_master_outside_a_worker_raises() -> None:
    with pytest.raises(PoolError, match="only in a task"):
        call_master("anything")


def test_many_callers_at_once(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=2, master_functions={"double": tasks.double})
    errors: list[BaseException] = []

    def caller(offset: int) -> None:
        try:
            for i in range(30):
                assert pool.run(tasks.ask_master, ("double", offset + i)) == 2 * (offset + i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(k * 1000,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert pool.status()["tasks"]["done"] == 180
    assert_healthy(pool)


def test_callers_wait_in_line_and_the_line_has_a_limit(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, queue_limit=2)
    results: dict[str, float] = {}

    def caller(name: str, seconds: float) -> None:
        results[name] = pool.run(tasks.started_at, (seconds,))

    first = threading.Thread(target=caller, args=("first", 0.5))
    first.start()
    wait_until(lambda: pool.status()["workers"]["busy"] == 1, what="busy worker")
    line = []
    for name in ("second", "third"):
        thread = threading.Thread(target=caller, args=(name, 0.0))
        thread.start()
        line.append(thread)
        depth = len(line)
        wait_until(lambda depth=depth: pool.status()["queue"] == depth, what="queue")
    with pytest.raises(PoolFull):
        pool.run(tasks.add, (1, 2))
    with pytest.raises(PoolFull):
        pool.submit(tasks.add, (1, 2))
    for thread in [first, *line]:
        thread.join(60)
    assert results["first"] < results["second"] < results["third"]
    assert pool.status()["tasks"]["rejected"] == 2
    assert_healthy(pool)


def test_submit_returns_futures(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=2)
    futures = [pool.submit(tasks.add, (i, i)) for i in range(10)]
    assert [future.result(timeout=60) for future in futures] == [2 * i for i in range(10)]
    failing = pool.submit(tasks.raise_value_error, ("in a future",))
    with pytest.raises(ValueError, match="in a future"):
        failing.result(timeout=60)
    assert_healthy(pool)


def test_nested_offload_does_not_deadlock(make_pool: PoolFactory) -> None:
    holder: list[Pool] = []

    def offload(value: int) -> int:
        return holder[0].run(tasks.double, (value,))  # type: ignore[no-any-return]

    pool = make_pool(workers=1, master_functions={"offload": offload})
    holder.append(pool)
    assert pool.run(tasks.nested, (20,), timeout=60) == 41
    # The temporary worker is retired once its task is done.
    assert_healthy(pool)
    assert pool.status()["workers"]["total"] == 1


def test_status_counts_and_latency(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=2, queue_limit=5)
    for i in range(20):
        pool.run(tasks.add, (i, 1))
    status = pool.status()
    assert status["workers"]["idle"] == 2 and status["workers"]["busy"] == 0
    assert status["queue"] == 0
    assert status["tasks"] == {
        "done": 20,
        "failed": 0,
        "timed_out": 0,
        "crashed": 0,
        "recycled": 0,
        "rejected": 0,
    }
    latency = status["latency_ms"]
    assert latency["count"] == 20
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
    assert len(status["workers"]["pids"]) == 2


def test_context_manager_shuts_down() -> None:
    with Pool(workers=1) as pool:
        assert pool.run(tasks.add, (1, 2)) == 3
    tasks.assert_clean()


def test_start_raises_when_the_executable_is_missing(make_pool: PoolFactory) -> None:
    with pytest.raises(WorkerStartFailed, match="not an executable"):
        make_pool(workers=1, executable="/nonexistent/python3")
    assert make_pool(workers=1).run(tasks.add, (1, 2)) == 3


def test_two_pools_live_side_by_side(make_pool: PoolFactory) -> None:
    first = make_pool(workers=1, master_functions={"make": tasks.make})
    second = make_pool(workers=1, start_method="spawn", master_functions={"make": tasks.make})
    for pool in (first, second):
        size, digest, _ = pool.run(tasks.fetch_big_from_master, (2 * tasks.MB,))
        assert digest == tasks.digest(tasks.pattern(size, 7))
    assert len(tasks.our_segments()) == 2  # one per worker: their names do not collide
    second.shutdown()
    assert first.run(tasks.add, (1, 2)) == 3
    assert_healthy(first)
