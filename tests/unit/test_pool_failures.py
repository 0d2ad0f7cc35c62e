"""The pool survives what goes wrong: timeouts, crashes, bloat, a dying master, shutdown."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from typing import Any

import pool_tasks as tasks
import psutil
import pytest
from pool_tasks import PoolFactory, assert_healthy, pool_factory, wait_until

from pool import Pool, PoolClosed, TaskTimeout, WorkerCrashed
from pool.shm import SHM_DIR
from pool.supervisor import Supervisor

# These start worker processes: `pytest -m "not slow"` leaves them out for a quick loop.
pytestmark = pytest.mark.slow


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    with pool_factory() as factory:
        yield factory


def run_in_thread(pool: Pool, fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    """Run a task on another thread; the list gets its result or its exception."""
    outcome: list[Any] = []

    def caller() -> None:
        try:
            outcome.append(pool.run(fn, args))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    return thread, outcome


def test_timeout_kills_and_replaces_the_worker(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, task_timeout=0.5)
    pid = pool.run(tasks.getpid)
    with pytest.raises(TaskTimeout) as info:
        pool.run(tasks.sleep, (30,))
    assert info.value.seconds == 0.5 and info.value.pid == pid
    with pytest.raises(TaskTimeout) as info:
        pool.run(tasks.sleep, (30,), timeout=0.2)
    assert info.value.seconds == 0.2
    assert pool.status()["tasks"]["timed_out"] == 2
    assert_healthy(pool)
    assert pid not in pool.status()["workers"]["pids"]
    restarts = pool.status()["restarts"]
    assert restarts["total"] == 2
    assert restarts["recent"][-1]["pid"] == pid and "timeout" in restarts["recent"][-1]["reason"]


def test_timeout_escalates_to_sigkill(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    with pytest.raises(TaskTimeout):
        pool.run(tasks.sleep_ignoring_sigterm, (30,), timeout=0.3)
    assert_healthy(pool)


@pytest.mark.parametrize(
    ("how", "exitcode", "signal_name"),
    [("sigkill", -9, "SIGKILL"), ("segfault", -11, "SIGSEGV"), ("exit", 3, "code 3")],
)
def test_crash_mid_task_is_reported_and_repaired(
    make_pool: PoolFactory, how: str, exitcode: int, signal_name: str
) -> None:
    pool = make_pool(workers=2)
    slow, outcome = run_in_thread(pool, tasks.sleep, 1.0)
    wait_until(lambda: pool.status()["workers"]["busy"] == 1, what="a busy worker")
    with pytest.raises(WorkerCrashed) as info:
        pool.run(tasks.die, (how,))
    assert info.value.exitcode == exitcode
    assert signal_name in str(info.value) and str(info.value.pid) in str(info.value)
    slow.join(60)
    assert isinstance(outcome[0], int)  # the task on the other worker was untouched
    assert pool.status()["tasks"]["crashed"] == 1
    assert_healthy(pool)
    (restart,) = pool.status()["restarts"]["recent"]
    assert restart["pid"] == info.value.pid and restart["reason"] == "crashed"
    assert restart["exit"] is not None and signal_name in restart["exit"]


def test_crash_under_spawn(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, start_method="spawn")
    with pytest.raises(WorkerCrashed) as info:
        pool.run(tasks.die, ("sigkill",))
    assert info.value.exitcode == -signal.SIGKILL
    assert_healthy(pool)


def test_idle_worker_that_dies_is_replaced(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=2)
    victim = pool.status()["workers"]["pids"][0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in pool.status()["workers"]["pids"], what="victim replaced")
    assert_healthy(pool)
    assert pool.status()["tasks"]["crashed"] == 0  # no task was lost
    (restart,) = pool.status()["restarts"]["recent"]
    assert restart["pid"] == victim and restart["reason"] == "died while idle: was killed by SIGKILL"


def test_status_lists_each_worker_with_its_tasks(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=2)
    for _ in range(5):
        pool.run(tasks.getpid)
    workers = pool.status()["workers"]
    assert sorted(w["pid"] for w in workers["list"]) == workers["pids"]
    assert sum(w["tasks"] for w in workers["list"]) == 5
    assert {w["state"] for w in workers["list"]} == {"idle"}
    assert all(w["started_at"] and not w["temporary"] for w in workers["list"])
    assert pool.status()["restarts"] == {"total": 0, "recent": []}


def test_a_task_given_to_a_worker_that_died_idle_goes_to_another(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The supervisor does not notice the death here: the caller finds out on sending.
    monkeypatch.setattr(Supervisor, "_reap_dead_idle", lambda self, ready: None)
    pool = make_pool(workers=1)
    victim = pool.run(tasks.getpid)
    (handle,) = pool._idle
    os.kill(victim, signal.SIGKILL)
    # The sentinel, not the pid: a killed process is a zombie before all its threads are gone.
    wait_until(lambda: wait([handle.sentinel], 0), what="the victim to die")
    assert pool.run(tasks.getpid) != victim
    monkeypatch.undo()
    assert pool.status()["tasks"]["crashed"] == 0
    assert_healthy(pool)


def test_recycles_after_max_tasks(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, max_tasks_per_worker=3)
    pids = [pool.run(tasks.getpid) for _ in range(7)]
    assert pids[0] == pids[1] == pids[2] != pids[3]
    assert pids[3] == pids[4] == pids[5] != pids[6]
    assert pool.status()["tasks"]["recycled"] == 2
    assert_healthy(pool)


def test_recycles_a_worker_that_grew_too_big(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, max_worker_memory_mb=150)
    first = pool.run(tasks.getpid)
    assert pool.run(tasks.getpid) == first
    assert pool.run(tasks.grow, (200,)) == first  # the result still comes back
    wait_until(lambda: first not in pool.status()["workers"]["pids"], what="recycled worker")
    assert pool.run(tasks.getpid) != first
    assert pool.status()["tasks"]["recycled"] == 1
    assert_healthy(pool)


def test_workers_ignore_sigint(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    pid = pool.run(tasks.getpid)
    os.kill(pid, signal.SIGINT)
    time.sleep(0.2)
    assert pool.run(tasks.getpid) == pid
    assert_healthy(pool)


def test_shutdown_lets_tasks_in_flight_finish(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    running, outcome = run_in_thread(pool, tasks.sleep, 0.5)
    wait_until(lambda: pool.status()["workers"]["busy"] == 1, what="a busy worker")
    waiting, refused = run_in_thread(pool, tasks.getpid)
    wait_until(lambda: pool.status()["queue"] == 1, what="a waiting caller")
    pool.shutdown(grace=30)
    running.join(10)
    waiting.join(10)
    assert isinstance(outcome[0], int)
    assert isinstance(refused[0], PoolClosed)
    with pytest.raises(PoolClosed):
        pool.run(tasks.getpid)
    with pytest.raises(PoolClosed):
        pool.submit(tasks.getpid)
    pool.shutdown()  # again: nothing happens
    tasks.assert_clean()


def test_shutdown_kills_tasks_past_the_grace(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=2)
    running, outcome = run_in_thread(pool, tasks.sleep, 60)
    wait_until(lambda: pool.status()["workers"]["busy"] == 1, what="a busy worker")
    started = time.monotonic()
    pool.shutdown(grace=0.3)
    running.join(10)
    assert isinstance(outcome[0], PoolClosed)
    assert time.monotonic() - started < 30
    tasks.assert_clean()


MASTER_SCRIPT = """
import json, os, sys, time
from pool import Pool, context
import pool_tasks

pool = Pool(workers=2, start_method=sys.argv[1])
pool.start()
pool.run(pool_tasks.describe, (pool_tasks.pattern(3 << 20),))
print(json.dumps({"workers": pool.status()["workers"]["pids"], "helpers": context.helper_pids()}))
sys.stdout.flush()
time.sleep(120)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_workers_die_with_a_killed_master(make_pool: PoolFactory, start_method: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER_SCRIPT, start_method], stdout=subprocess.PIPE, env=env
    )
    try:
        assert master.stdout is not None
        line = master.stdout.readline()
        assert line, "the master script failed"
        pids = json.loads(line)
        others = pids["workers"] + pids["helpers"]
        assert len(pids["workers"]) == 2 and all(not gone(pid) for pid in others)
        # A segment that the dead master would leave if its workers could not clean up.
        stale = os.path.join(SHM_DIR, f"ortpool-{master.pid}-99-m2w-1")
        with open(stale, "wb") as file:
            file.write(b"x")
        master.send_signal(signal.SIGKILL)
        master.wait(10)
        wait_until(lambda: all(gone(pid) for pid in others), timeout=5, what="orphans to exit")
    finally:
        master.kill()
        master.wait()
    fresh = make_pool(workers=1)  # start() removes what the dead master left
    assert not [n for n in os.listdir(SHM_DIR) if n.startswith(f"ortpool-{master.pid}-")]
    assert_healthy(fresh)


def test_an_infinite_timeout_is_no_timeout(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, task_timeout=float("inf"))
    assert pool.run(tasks.sleep, (0.1,)) == pool.run(tasks.getpid)
    assert_healthy(pool)


# -- a worker and what it starts are one process group --


def read_pid(path: Any) -> int:
    wait_until(lambda: os.path.exists(path) and open(path).read(), what="the child's pid")
    with open(path) as file:
        return int(file.read())


def test_a_worker_leads_its_own_process_group(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    pid = pool.run(tasks.getpid)
    assert os.getpgid(pid) == pid
    assert os.getpgid(pid) != os.getpgrp()


def test_timeout_kills_what_the_task_started(make_pool: PoolFactory, tmp_path: Any) -> None:
    pool = make_pool(workers=1)
    pid_file = tmp_path / "child"
    started = time.monotonic()
    with pytest.raises(TaskTimeout):
        pool.run(tasks.start_sleep, (str(pid_file), "hang"), timeout=1)
    child = read_pid(pid_file)
    wait_until(lambda: gone(child), timeout=5, what="the task's child to end")
    print(f"the task's child gone {time.monotonic() - started:.2f} s after a 1 s timeout")
    assert_healthy(pool)


def test_a_crash_takes_what_the_task_started_with_it(make_pool: PoolFactory, tmp_path: Any) -> None:
    pool = make_pool(workers=1)
    pid_file = tmp_path / "child"
    with pytest.raises(WorkerCrashed):
        pool.run(tasks.start_sleep, (str(pid_file), "crash"))
    child = read_pid(pid_file)
    wait_until(lambda: gone(child), timeout=5, what="the crashed task's child to end")
    assert_healthy(pool)


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_retiring_a_worker_ends_what_its_tasks_left_running(
    make_pool: PoolFactory, tmp_path: Any, start_method: str
) -> None:
    pool = make_pool(workers=1, max_tasks_per_worker=1, start_method=start_method)
    child = pool.run(tasks.start_sleep, (str(tmp_path / "recycled"),))
    wait_until(lambda: gone(child), timeout=5, what="the recycled worker's child to end")
    child = pool.run(tasks.start_sleep, (str(tmp_path / "shut"),))
    pool.shutdown(grace=5)
    assert gone(child)
    tasks.assert_clean()


def test_shutdown_ends_a_stuck_task_within_its_grace(make_pool: PoolFactory, tmp_path: Any) -> None:
    """A task with a long timeout does not hold shutdown past its grace; its caller gets PoolClosed."""
    grace = 1.0
    pool = make_pool(workers=1, task_timeout=120)
    running, outcome = run_in_thread(pool, tasks.start_sleep, str(tmp_path / "child"), "hang")
    child = read_pid(tmp_path / "child")
    waiting, refused = run_in_thread(pool, tasks.getpid)
    wait_until(lambda: pool.status()["queue"] == 1, what="a waiting caller")
    started = time.monotonic()
    pool.shutdown(grace=grace)
    took = time.monotonic() - started
    running.join(10)
    waiting.join(10)
    print(f"shutdown with a stuck task (timeout 120 s, grace {grace:g} s) took {took:.2f} s")
    assert took < grace + 5
    assert isinstance(outcome[0], PoolClosed) and isinstance(refused[0], PoolClosed)
    assert gone(child)
    tasks.assert_clean()


def test_a_killed_master_takes_what_its_workers_started_with_it(tmp_path: Any) -> None:
    """Under forkserver (the default), a worker whose master dies kills its group before it exits."""
    script = MASTER_SCRIPT.replace(
        "pool.run(pool_tasks.describe, (pool_tasks.pattern(3 << 20),))",
        f"pool.run(pool_tasks.start_sleep, ({str(tmp_path / 'child')!r},))",
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    master = subprocess.Popen([sys.executable, "-c", script, "forkserver"], stdout=subprocess.PIPE, env=env)
    try:
        assert master.stdout is not None
        assert master.stdout.readline(), "the master script failed"
        child = read_pid(tmp_path / "child")
        assert not gone(child)
        master.send_signal(signal.SIGKILL)
        master.wait(10)
        started = time.monotonic()
        wait_until(lambda: gone(child), timeout=5, what="the worker's child to end")
        print(f"a worker's child gone {time.monotonic() - started:.2f} s after its master's SIGKILL")
    finally:
        master.kill()
        master.wait()


# -- a pool replaced by another drains: its tasks end by their own timeouts, and its callers
# learn whether a refused task may have run (runtime.backends.executor runs the others elsewhere).

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


DEEP_TMPDIR_SCRIPT = """
import sys
import tempfile
from pool import Pool, WorkerStartFailed
import pool_tasks

try:
    Pool(workers=1, start_method="forkserver").start()
except WorkerStartFailed as error:
    print("refused:", error)
else:
    print("started")
with Pool(workers=1, start_method="spawn") as pool:  # what the message offers instead
    print("spawn:", pool.run(pool_tasks.add, (2, 3)))
"""


def test_a_temporary_folder_too_deep_for_the_fork_servers_socket_is_named() -> None:
    # multiprocessing itself fails with a bare "AF_UNIX path too long", naming no folder.
    top = tempfile.mkdtemp(prefix="or-")
    deep = os.path.join(top, "d" * 90)
    os.mkdir(deep)
    try:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), TMPDIR=deep)
        done = subprocess.run([sys.executable, "-c", DEEP_TMPDIR_SCRIPT], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(top)
    assert done.returncode == 0, done.stderr
    refused, spawned = done.stdout.splitlines()
    assert refused.startswith("refused: no worker could start: the fork server's socket would be")
    assert f"set TMPDIR to a shorter folder (it is {deep!r})" in refused
    assert spawned == "spawn: 5"
