"""What a script leaves running in Orthanc's process when the plugin stops, and its end.

The script runs inside Orthanc: the processes it starts are Orthanc's
children, its threads are Orthanc's threads. When the plugin stops (or fails
to start) those processes are ended, so that none outlives Orthanc. Threads
cannot be ended from outside; what matters is that Orthanc's exit does not
wait for them, which Python's own finalisation would do, for ever, for a
non-daemon thread that never returns.

Processes the script started with ``multiprocessing`` are left to it until
the exit: its atexit handler terminates the daemonic ones and its pools'
finalisers end their workers, and a pool whose workers were killed under it
deadlocks there (an idle worker dies holding the lock of the task queue).
Only the non-daemon ones, which it would join for ever, are ended first.

A process the script forks after Orthanc has started would inherit Orthanc's
own handler of SIGTERM, which only asks the (copied) server to stop: such a
child would outlive every SIGTERM, and ``Pool.terminate()``, which ends its
workers with SIGTERM and then joins them, would wait for ever. Forked
children therefore get back the handling of the stop signals that Python
believes they have (see ``children_answer_stop_signals``).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable

import psutil

TERM_WAIT = 1.0
"""Seconds a process has to exit after SIGTERM before it gets SIGKILL."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)
"""The signals with which Orthanc is told to stop; it catches them with handlers of its own."""

_forks_watched = False


def children_answer_stop_signals() -> None:
    """Make each process forked by Python in Orthanc handle the stop signals as Python says.

    Orthanc installs C handlers of ``STOP_SIGNALS`` once it has started (its
    main thread then waits for them); a fork inherits them, and Python does not
    know of them: ``signal.getsignal`` still answers what it installed or found
    at its start. In each forked child that answer is made true again (a
    handler Python never knew of becomes the default); a handler the script
    installed in Python stays the child's. The forking thread blocks the stop
    signals around the fork, so that one sent to the child before that is
    done waits for it instead of reaching Orthanc's handler; the child then
    unblocks them, as it is not one of Orthanc's threads. Idempotent.
    """
    global _forks_watched
    if not _forks_watched:
        os.register_at_fork(before=_block_stop_signals, after_in_parent=_restore_stop_signals,
                            after_in_child=_python_signals_in_child)
        _forks_watched = True


_fork = threading.local()  # the forking thread's mask of signals, while it forks


def _block_stop_signals() -> None:
    _fork.mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _restore_stop_signals() -> None:
    mask = getattr(_fork, "mask", None)
    if mask is not None:
        _fork.mask = None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _python_signals_in_child() -> None:
    _fork.mask = None
    for number in STOP_SIGNALS:
        handler = signal.getsignal(number)
        try:
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        except (ValueError, OSError):  # not the main thread of the main interpreter
            break
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def descendants() -> list[psutil.Process]:
    """Every process below this one: the script's, the pool's, theirs."""
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        command = "?"
    return f"process {process.pid} ({command[:200]})"


def end_processes(processes: Iterable[psutil.Process], log: Callable[[str], None]) -> int:
    """SIGTERM each process still running, SIGKILL it after TERM_WAIT; logs each one; returns how many.

    psutil checks a process's start time before signalling it, so a pid that
    was reused since ``processes`` was taken is left alone. The children of
    ``multiprocessing`` are spared (see the module's docstring).
    """
    spared = {child.pid for child in multiprocessing.active_children()}
    running: dict[int, psutil.Process] = {}
    for process in processes:
        try:
            if process.pid in running or process.pid in spared or not process.is_running():
                continue
            if process.status() == psutil.STATUS_ZOMBIE:
                process.wait(0)  # already dead; reap it if it is ours
                continue
            log(f"ending {_describe(process)}, still running at the stop")
            process.terminate()
            running[process.pid] = process
        except (psutil.Error, psutil.TimeoutExpired, ChildProcessError):
            continue
    _, alive = psutil.wait_procs(list(running.values()), timeout=TERM_WAIT)
    for process in alive:
        try:
            log(f"killing {_describe(process)}: it did not exit on SIGTERM")
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=TERM_WAIT)
    return len(running)


def running_threads() -> list[threading.Thread]:
    """Non-daemon threads that are still running: Python's exit would wait for each of them."""
    here = threading.current_thread()
    main = threading.main_thread()
    return [t for t in threading.enumerate()
            if t is not here and t is not main and not t.daemon and t.is_alive()]


def describe_threads(threads: Iterable[threading.Thread]) -> str:
    return ", ".join(f"{t.name!r}" for t in threads)


_python_shutdown: Callable[[], None] | None = None


def do_not_wait_for_threads_at_exit() -> None:
    """Make the interpreter's finalisation, at Orthanc's exit, not wait for non-daemon threads.

    Py_FinalizeEx calls ``threading._shutdown`` to join every non-daemon
    thread; it looks the function up by name on the module at that moment (so
    from Python 3.8 to 3.13), which makes it the one seam of that step. Our
    version names the threads still running on stderr (Orthanc's own log is
    closed by then) and returns without joining them; with none left, it is
    Python's. The rest of the finalisation runs as usual, and threads still
    running are stopped as daemon threads are. The alternatives are worse:
    ``Thread.daemon`` cannot be set on a running thread, and skipping the
    finalisation would also skip atexit handlers and the flushing of files.

    Idempotent; done at each stop and at a failed start, since either may be
    the last thing before the process exits.
    """
    global _python_shutdown
    if _python_shutdown is not None:
        return
    original = getattr(threading, "_shutdown", None)
    if original is None:
        return  # a Python that joins threads some other way: nothing to replace
    _python_shutdown = original
    threading._shutdown = _shutdown_without_waiting  # type: ignore[attr-defined]
    # atexit runs its handlers last registered first: this one runs before
    # multiprocessing's, which was registered when multiprocessing was imported.
    atexit.register(_end_non_daemon_multiprocessing_children)


def _shutdown_without_waiting() -> None:
    left = running_threads()
    if not left:
        assert _python_shutdown is not None
        _python_shutdown()
        return
    # threading's own exit hooks (concurrent.futures joins its workers there)
    # are skipped too: they would wait for the same threads.
    print(f"orthanc-runtime: exiting without waiting for the thread(s) still running: "
          f"{describe_threads(left)}", file=sys.stderr, flush=True)


def _end_non_daemon_multiprocessing_children() -> None:
    """At exit, end the script's non-daemon multiprocessing children, which multiprocessing would join for ever."""
    left = [child for child in multiprocessing.active_children() if not child.daemon]
    if not left:
        return
    print(f"orthanc-runtime: ending the process(es) still running at exit: "
          f"{', '.join(f'{child.name!r} (pid {child.pid})' for child in left)}",
          file=sys.stderr, flush=True)
    for child in left:
        child.terminate()
    deadline = time.monotonic() + TERM_WAIT
    for child in left:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(TERM_WAIT)
