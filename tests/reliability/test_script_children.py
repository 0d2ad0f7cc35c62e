"""Processes a script forks inside Orthanc stop when told to, and none holds Orthanc's exit.

Once Orthanc has started, its main thread catches SIGTERM with a handler of its own (the
C++ server's, which only asks the server to stop); a fork inherits it. Without the
runtime's care (runtime.plugin.leftovers.children_answer_stop_signals), a child forked
in a route then outlives SIGTERM, and ``Pool.terminate()`` (SIGTERM to each worker, then
join) waits for ever in a request that Orthanc's stop waits for in turn. These tests make
that happen on purpose: the child is forked after Orthanc catches SIGTERM, and the pool's
worker is busy when the pool is terminated, so that only SIGTERM can end it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

import psutil

from tests.harness import Answer, Orthanc, wait_for
from tests.reliability.test_shutdown import (
    PROMISE,
    assert_no_child_left,
    read_pid,
    sigterm,
    start,
)

SCRIPT = '''
import multiprocessing, os, pathlib, threading, time
from runtime import route

FORK = multiprocessing.get_context("fork")
MARK = pathlib.Path(__file__).with_name("task.started")

def sleep(running=None):
    if running is not None:
        running.set()
    time.sleep(600)

def mark_and_sleep():
    MARK.write_text(str(os.getpid()))
    time.sleep(600)

def sigterm_caught(pid):
    """Whether a handler (Python's or another) catches SIGTERM in process ``pid``."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (15 - 1)))

def ended(child):
    """The child's exit code 10 s after SIGTERM (None: still running, then killed)."""
    child.terminate()
    child.join(10)
    exitcode = child.exitcode
    if exitcode is None:  # the test failed: the child must not be left behind
        child.kill()
        child.join()
    return exitcode

@route("/forked-child")
def forked_child(request):
    running = FORK.Event()
    child = FORK.Process(target=sleep, args=(running,), name="sleeper")
    child.start()
    running.wait(30)
    caught = sigterm_caught(child.pid)
    return {"exitcode": ended(child), "sigterm_caught": caught}

@route("/forked-and-terminated-at-once")
def forked_and_terminated_at_once(request):
    codes = []
    for _ in range(20):
        child = FORK.Process(target=sleep, name="sleeper")
        child.start()
        codes.append(ended(child))
    return {"exitcodes": codes}

@route("/pool-terminate")
def pool_terminate(request):
    pool = FORK.Pool(1)
    pool.apply_async(mark_and_sleep)
    deadline = time.monotonic() + 30
    while not MARK.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # The worker is busy in its task: Pool.terminate() ends it with SIGTERM, then joins it.
    terminating = threading.Thread(target=pool.terminate, daemon=True)
    started = time.monotonic()
    terminating.start()
    terminating.join(10)
    return {"task_started": MARK.exists(), "terminated": not terminating.is_alive(),
            "took": time.monotonic() - started}
'''


def orthanc_catches_sigterm(server: Orthanc) -> bool:
    """Whether Orthanc's main thread has installed its own SIGTERM handler (after its start)."""
    assert server.process.process is not None
    status = Path(f"/proc/{server.process.process.pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def started(tmp_path: Path, grace: float = 2) -> Orthanc:
    server = start(tmp_path, SCRIPT, grace)
    # The premise: a fork from now on inherits Orthanc's handler of SIGTERM.
    wait_for(lambda: orthanc_catches_sigterm(server), timeout=30,
             what="Orthanc catches SIGTERM with its own handler")
    return server


def stop(server: Orthanc, grace: float = 2) -> None:
    children = server.children()
    code, took = sigterm_or_kill(server, grace)
    assert code == 0, server.log()[-3000:]
    assert took < grace + PROMISE
    if children:
        assert_no_child_left(children)


def test_a_child_forked_in_a_route_ends_on_sigterm(tmp_path):
    server = started(tmp_path)
    try:
        answer = server.get("/forked-child", timeout=60).json()
        assert answer == {"exitcode": -signal.SIGTERM, "sigterm_caught": False}
    finally:
        stop(server)


def test_a_child_forked_and_terminated_at_once_ends(tmp_path):
    """SIGTERM sent while the child is still being set up waits for that to be done."""
    server = started(tmp_path)
    try:
        answer = server.get("/forked-and-terminated-at-once", timeout=300).json()
        assert answer == {"exitcodes": [-signal.SIGTERM] * 20}
    finally:
        stop(server)


def test_terminating_a_pool_made_in_a_route_ends_its_busy_worker(tmp_path):
    server = started(tmp_path)
    try:
        answer = server.get("/pool-terminate", timeout=60).json()
        assert answer["task_started"]
        assert answer["terminated"], answer
        assert answer["took"] < 5
    finally:
        stop(server)
    assert "still running" not in server.log()  # nothing was left for the stop to end


def test_the_script_keeps_its_own_sigterm_handler_in_its_children(tmp_path):
    """A handler the script installed in Python is what its forked children run too."""
    script = '''
import multiprocessing, os, signal, time
from runtime import route

def on_sigterm(number, frame):
    os._exit(7)

signal.signal(signal.SIGTERM, on_sigterm)

@route("/child")
def child(request):
    process = multiprocessing.get_context("fork").Process(target=time.sleep, args=(600,))
    process.start()
    time.sleep(0.5)  # the child's Python is up
    process.terminate()
    process.join(10)
    exitcode = process.exitcode
    if exitcode is None:
        process.kill()
        process.join()
    return {"exitcode": exitcode}
'''
    server = start(tmp_path, script, 2)
    try:
        wait_for(lambda: orthanc_catches_sigterm(server), timeout=30,
                 what="Orthanc catches SIGTERM with its own handler")
        assert server.get("/child", timeout=60).json() == {"exitcode": 7}
    finally:
        stop(server)


DEAF = '''
import multiprocessing, os, pathlib, signal, time
from runtime import route

FORK = multiprocessing.get_context("fork")
MARK = pathlib.Path(__file__).with_name("task.started")

def deaf():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def mark_and_sleep():
    MARK.write_text(str(os.getpid()))
    time.sleep(600)

def started():
    deadline = time.monotonic() + 30
    while not MARK.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return int(MARK.read_text())

POOL = FORK.Pool(1, initializer=deaf)

@route("/terminate-in-the-route")
def terminate_in_the_route(request):
    pool = FORK.Pool(1, initializer=deaf)
    pool.apply_async(mark_and_sleep)
    started()
    pool.terminate()  # its worker ignores SIGTERM: this joins it for ever
    return {"terminated": True}

@route("/busy-at-exit")
def busy_at_exit(request):
    POOL.apply_async(mark_and_sleep)
    return {"worker": started()}
'''


def sigterm_or_kill(server: Orthanc, grace: float) -> tuple[int, float]:
    """SIGTERM; the exit code and the seconds it took. Fails (after SIGKILL, and the same to
    what was below Orthanc) if Orthanc has not exited well after ``grace`` + PROMISE."""
    children = server.children()
    try:
        return sigterm(server, timeout=grace + PROMISE + 10)
    except subprocess.TimeoutExpired:
        for process in [*children, psutil.Process(server.process.process.pid)]:  # type: ignore[union-attr]
            with contextlib.suppress(psutil.Error):
                process.kill()
        raise AssertionError(f"Orthanc did not exit after SIGTERM:\n{server.log()[-3000:]}") from None


def orthanc_waits_for(server: Orthanc, pid: int) -> bool:
    """Whether a thread of Orthanc's is blocked in wait4(pid) (x86_64: 61, aarch64: 260)."""
    assert server.process.process is not None
    wait4 = {"x86_64": 61, "aarch64": 260}[os.uname().machine]
    for syscall in Path(f"/proc/{server.process.process.pid}/task").glob("*/syscall"):
        try:
            fields = syscall.read_text().split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] == str(wait4) and int(fields[1], 16) == pid:
            return True
    return False


def test_a_request_joining_a_worker_that_ignores_sigterm_does_not_hold_the_stop(tmp_path):
    """After ShutdownGrace, what a thread waits for is ended: the request returns, Orthanc exits."""
    grace = 2.0
    server = start(tmp_path, DEAF, grace)
    answers: list[Answer | BaseException] = []

    def call() -> None:
        try:
            answers.append(server.get("/terminate-in-the-route", timeout=120))
        except BaseException as error:
            answers.append(error)

    client = threading.Thread(target=call)
    client.start()
    worker = read_pid(tmp_path / "scripts" / "task.started")
    wait_for(lambda: orthanc_waits_for(server, worker), timeout=30,
             what="the route joins the worker that ignores SIGTERM")
    children = server.children()
    code, took = sigterm_or_kill(server, grace)
    client.join(30)
    print(f"a route joining a worker that ignores SIGTERM, ShutdownGrace {grace:g} s: Orthanc "
          f"exited {code} after {took:.2f} s")
    assert code == 0, server.log()[-3000:]
    assert took < grace + PROMISE
    assert f"killing process {worker} " in server.log()
    assert "which a thread has waited for during 1 s as Orthanc stops: it ignores SIGTERM" \
        in server.log()
    assert isinstance(answers[0], Answer) and answers[0].json() == {"terminated": True}
    assert_no_child_left(children)


def test_a_pool_whose_worker_ignores_sigterm_does_not_hold_the_exit(tmp_path):
    """At the exit multiprocessing terminates the script's pool and joins its busy worker,
    which ignores SIGTERM: it is ended once it has been waited for during TERM_WAIT."""
    grace = 2.0
    server = start(tmp_path, DEAF, grace)
    worker = server.get("/busy-at-exit", timeout=60).json()["worker"]
    children = server.children()
    code, took = sigterm_or_kill(server, grace)
    print(f"a busy pool worker that ignores SIGTERM at the exit, ShutdownGrace {grace:g} s: "
          f"Orthanc exited {code} after {took:.2f} s")
    assert code == 0, server.log()[-3000:]
    assert took < grace + PROMISE
    assert f"killing process {worker} " in server.log()
    assert "which a thread has waited for during 1 s as Orthanc stops: it ignores SIGTERM" \
        in server.log()
    assert_no_child_left(children)
