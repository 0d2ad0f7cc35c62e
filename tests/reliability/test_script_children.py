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

import signal
from pathlib import Path

from tests.harness import Orthanc, wait_for
from tests.reliability.test_shutdown import PROMISE, assert_no_child_left, sigterm, start

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
    code, took = sigterm(server)
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
