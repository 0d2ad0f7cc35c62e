"""A pool replaced by another drains: its tasks end by their own timeouts, and its callers
learn whether a refused task may have run (runtime.executor runs the others elsewhere)."""

from __future__ import annotations

import math
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import pool_tasks as tasks
import pytest
from pool_tasks import PoolFactory, pool_factory, wait_until

from pool import Pool, PoolClosed

pytestmark = pytest.mark.slow


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    with pool_factory() as factory:
        yield factory


def run_in_thread(pool: Pool, fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def caller() -> None:
        try:
            outcome.append(pool.run(fn, args))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    return thread, outcome


def test_an_unbounded_grace_lets_a_task_past_shutdown_grace_finish(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, shutdown_grace=0.1)
    running, outcome = run_in_thread(pool, tasks.sleep, 1.0)
    wait_until(lambda: pool.status()["workers"]["busy"] == 1, what="a busy worker")
    waiting, refused = run_in_thread(pool, tasks.getpid)
    wait_until(lambda: pool.status()["queue"] == 1, what="a waiting caller")
    pool.shutdown(math.inf)
    running.join(10)
    waiting.join(10)
    assert isinstance(outcome[0], int)  # 1 s, ten times ShutdownGrace: it finished
    assert isinstance(refused[0], PoolClosed) and not refused[0].may_have_run
    with pytest.raises(PoolClosed) as info:
        pool.run(tasks.getpid)
    assert not info.value.may_have_run
    tasks.assert_clean()


def test_a_second_shutdown_shortens_the_grace_of_a_draining_pool(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, task_timeout=120)
    running, outcome = run_in_thread(pool, tasks.sleep, 60)
    wait_until(lambda: pool.status()["workers"]["busy"] == 1, what="a busy worker")
    drain = threading.Thread(target=pool.shutdown, args=(math.inf,))
    drain.start()
    time.sleep(0.3)
    assert drain.is_alive()  # draining: waits for the task
    started = time.monotonic()
    pool.shutdown(0.2)  # Orthanc stops: the drain ends within this grace
    drain.join(10)
    running.join(10)
    assert not drain.is_alive()
    assert time.monotonic() - started < 10
    assert isinstance(outcome[0], PoolClosed) and outcome[0].may_have_run
    tasks.assert_clean()


def test_pool_closed_keeps_whether_the_task_may_have_run_across_a_pickle() -> None:
    for may_have_run in (True, False):
        error = pickle.loads(pickle.dumps(PoolClosed("closed", may_have_run=may_have_run)))
        assert isinstance(error, PoolClosed)
        assert error.may_have_run is may_have_run and str(error) == "closed"
    assert PoolClosed("closed").may_have_run  # unless the pool knows, a task may have run
