"""runtime.plugin.leftovers outside Orthanc: which children a thread waits for, and forks."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import threading
import time

import pytest

from runtime.plugin import leftovers

# Forking a process with threads is what these tests are about (Orthanc has many): Python
# 3.12+ warns of it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning")

FORK = multiprocessing.get_context("fork")


def waiting_for(seconds: float) -> tuple[multiprocessing.process.BaseProcess, threading.Thread]:
    """A child of multiprocessing's that sleeps ``seconds``, and a thread that joins it."""
    child = FORK.Process(target=time.sleep, args=(seconds,), name="sleeper")
    child.start()
    waiter = threading.Thread(target=child.join, daemon=True)
    waiter.start()
    assert child.pid is not None
    wait_until_waited(child.pid)
    return child, waiter


def wait_until_waited(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not any(waited == pid for _, waited in leftovers.waits()):
        assert time.monotonic() < deadline, "the thread never waited"
        time.sleep(0.01)


def test_a_thread_blocked_waiting_for_a_child_is_seen_with_that_child():
    child, waiter = waiting_for(30)
    try:
        assert (waiter.native_id, child.pid) in leftovers.waits()
        assert leftovers.children_waited_for(0.3) == {child.pid}
    finally:
        child.kill()
        waiter.join(10)
    assert not any(pid == child.pid for _, pid in leftovers.waits())


def test_a_wait_that_ends_within_the_time_is_not_a_lasting_one():
    child, waiter = waiting_for(0.3)
    started = time.monotonic()
    assert leftovers.children_waited_for(2) == set()
    assert time.monotonic() - started < 1.5  # it answers once no thread waits
    waiter.join(10)


def test_ending_what_a_thread_waits_for_logs_it_and_frees_the_thread():
    child, waiter = waiting_for(30)
    lines: list[str] = []
    assert leftovers.end_awaited_children(lines.append, "for the test") == 1
    waiter.join(10)
    assert not waiter.is_alive()
    assert child.exitcode == -signal.SIGTERM
    assert len(lines) == 1
    assert lines[0].startswith(f"ending process {child.pid} (") and lines[0].endswith(", for the test")


def test_a_process_that_multiprocessing_did_not_start_is_not_ended():
    """Orthanc's own (a Lua SystemCall) or a script's subprocess: not the runtime's to end."""
    child = subprocess.Popen(["sleep", "30"])
    waiter = threading.Thread(target=child.wait, daemon=True)
    waiter.start()
    try:
        wait_until_waited(child.pid)
        assert leftovers.end_awaited_children(lambda line: None, "for the test") == 0
        assert child.poll() is None
    finally:
        child.kill()
        waiter.join(10)


def test_no_wait_no_ending():
    assert leftovers.end_awaited_children(lambda line: None, "nothing") == 0


def test_a_fork_restores_the_stop_signals_python_knows_of():
    """The child gets back the disposition Python records, not a handler set behind its back
    (here SIG_IGN set through the C library stands for Orthanc's own handler)."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    # What Python records: the default (a test run under nohup starts with SIGHUP ignored).
    recorded = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    leftovers.children_answer_stop_signals()
    previous = libc.signal(signal.SIGHUP, 1)  # SIG_IGN, unknown to Python
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: is SIGHUP still ignored?
            with open(f"/proc/{os.getpid()}/status") as status:
                ignored = next(line for line in status if line.startswith("SigIgn:"))
            os.write(write, b"1" if int(ignored.split()[1], 16) & (1 << (signal.SIGHUP - 1))
                     else b"0")
            os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.waitpid(pid, 0)
        assert answer == b"0"
    finally:
        libc.signal(signal.SIGHUP, previous)
        signal.signal(signal.SIGHUP, recorded)


def deaf_sleep(seconds: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)


def test_a_child_that_ignores_sigterm_is_killed_at_once():
    child = FORK.Process(target=deaf_sleep, args=(30,), name="deaf")
    child.start()
    waiter = threading.Thread(target=child.join, daemon=True)
    waiter.start()
    assert child.pid is not None
    wait_until_waited(child.pid)
    deadline = time.monotonic() + 10
    while not leftovers._ignores_sigterm(child.pid):  # its signal.signal() has run
        assert time.monotonic() < deadline
        time.sleep(0.01)
    lines: list[str] = []
    started = time.monotonic()
    assert leftovers.end_awaited_children(lines.append, "for the test") == 1
    waiter.join(10)
    assert child.exitcode == -signal.SIGKILL
    assert time.monotonic() - started < leftovers.TERM_WAIT + 0.9  # no SIGTERM waited on
    assert len(lines) == 1 and lines[0].endswith(", for the test: it ignores SIGTERM")
