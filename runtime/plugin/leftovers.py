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

Whatever a script does, a thread blocked waiting for a child that does not
end (a pool whose worker ignores SIGTERM, joined by ``Pool.terminate()`` in a
request, in a handler of ORTHANC_STOPPED or in multiprocessing's atexit
handler) would hold Orthanc's stop for ever: a child that one same thread has
waited for during TERM_WAIT, and that ``multiprocessing`` started, is ended
just before ShutdownGrace is over, after it, and during the exit
(``end_awaited_children``). That is the one case in
which multiprocessing's children are ended before the exit: what waited for
them wants them ended, and an idle worker is never waited for.
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


def on_start() -> None:
    """At each start of the plugin: forked children answer the stop signals (below); the
    watch of waits (``watch_waits_by``) is ready, and off until the next stop."""
    global _watch_from
    _watch_from = None
    children_answer_stop_signals()
    if not _watch_started.is_set():
        _watch_started.set()
        # Started here, not at the exit: Python refuses to start a thread once it finalises.
        threading.Thread(target=_watch_waits, name="orthanc-runtime-waits", daemon=True).start()


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


# The system calls with which a thread waits for one child to end, by machine: wait4(pid, ...)
# (what os.waitpid, Popen.wait and Process.join come to) and waitid(P_PID, pid, ...).
_WAIT4 = {"x86_64": 61, "aarch64": 260}
_WAITID = {"x86_64": 247, "aarch64": 95}
_P_PID = 1
WATCH_STEP = 0.1
"""Seconds between two looks at what the threads wait for."""


def waits() -> set[tuple[int, int]]:
    """(thread id, child pid) of each thread of this process blocked waiting for one child.

    Read from ``/proc/self/task/*/syscall``: the system call each thread is in,
    and its arguments. A wait for any child (pid -1 or 0) names none. Empty on a
    machine not listed above or without /proc.
    """
    machine = os.uname().machine
    wait4, waitid = _WAIT4.get(machine), _WAITID.get(machine)
    found: set[tuple[int, int]] = set()
    try:
        threads = os.listdir("/proc/self/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/self/task/{thread}/syscall") as file:
                fields = file.read().split()
            number, args = int(fields[0]), [int(field, 16) for field in fields[1:3]]
        except (OSError, ValueError, IndexError):  # ended, running, or not readable
            continue
        if number == wait4 and 0 < args[0] < 2**31:
            found.add((int(thread), args[0]))
        elif number == waitid and args[0] == _P_PID and 0 < args[1] < 2**31:
            found.add((int(thread), args[1]))
    return found


def children_waited_for(seconds: float) -> set[int]:
    """The children that one same thread waits for throughout ``seconds`` (looked at each
    WATCH_STEP); returns at once when no thread waits for any.

    A wait that lasts is what makes a stop wait for ever; a short one (multiprocessing
    reaping its fork server once told to exit) is no business of ours.
    """
    deadline = time.monotonic() + seconds
    lasting = waits()
    while lasting and time.monotonic() < deadline:
        time.sleep(WATCH_STEP)
        lasting &= waits()
    return {pid for _, pid in lasting}


def end_awaited_children(log: Callable[[str], None], why: str,
                         still: Callable[[], bool] = lambda: True) -> int:
    """End each ``multiprocessing`` child that a thread has waited for during TERM_WAIT;
    returns how many.

    What makes a stop wait for ever is a thread that waits for a process that
    does not end: a request joining its pool after ``Pool.terminate()``, whose
    worker ignores SIGTERM, say. Ending that process (SIGTERM, then SIGKILL) is
    what the thread waits for; nothing else is touched, an idle pool worker
    least of all (it may hold its task queue's lock: see the module's docstring).
    Only what Python in Orthanc started through ``multiprocessing`` is ended:
    a process that Orthanc itself runs and waits for (a Lua ``SystemCall``) is
    not, nor the ``subprocess`` of a script. ``still`` says, once the wait has
    lasted, whether to go on.
    """
    awaited = children_waited_for(TERM_WAIT)
    if not awaited or not still():
        return 0
    ours = {child.pid for child in multiprocessing.active_children()}
    # Signalled here, reaped by the thread that waits for it: were it reaped here, that
    # thread's wait would fail (ECHILD) and its Process.exitcode stay unknown.
    targets = [p for p in descendants() if p.pid in awaited & ours]
    deaf = [p for p in targets if _ignores_sigterm(p.pid)]  # no time lost on a SIGTERM
    ending = [p for p in targets if p not in deaf
              and _signal(p, signal.SIGTERM, log, f"ending {_describe(p)}, {why}")]
    ending += [p for p in deaf if _signal(p, signal.SIGKILL, log,
                                          f"killing {_describe(p)}, {why}: it ignores SIGTERM")]
    left = _still_waited_for(ending, TERM_WAIT)
    for process in left:
        _signal(process, signal.SIGKILL, log, f"killing {_describe(process)}: it did not exit on SIGTERM")
    _still_waited_for(left, TERM_WAIT)
    return len(ending)


def _ignores_sigterm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            ignored = next(line for line in status if line.startswith("SigIgn:"))
        return bool(int(ignored.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except (OSError, StopIteration, ValueError, IndexError):
        return False


def _signal(process: psutil.Process, number: int, log: Callable[[str], None], line: str) -> bool:
    try:
        process.send_signal(number)  # psutil checks first that the pid is still this process
    except psutil.Error:
        return False
    log(line)
    return True


def _still_waited_for(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Those of ``processes`` that a thread still waits for after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        waited = {pid for _, pid in waits()}
        left = [p for p in processes if p.pid in waited]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(WATCH_STEP / 5)


_watch_from: float | None = None  # time.monotonic() from which the watch ends lasting waits
_watch_log: Callable[[str], None] = print
_watch_armed = threading.Event()
_watch_started = threading.Event()


def watch_waits_by(deadline: float, log: Callable[[str], None]) -> None:
    """From 3 * TERM_WAIT before ``deadline`` (time.monotonic()) on, until the plugin starts
    again or the process exits, end each ``multiprocessing`` child that a thread has waited
    for during TERM_WAIT (``end_awaited_children``), logging with ``log``.

    At ORTHANC_STOPPED, with the end of ShutdownGrace: what waited (a request, a handler of
    ORTHANC_STOPPED) is done while Orthanc can still answer (one TERM_WAIT to see that the
    wait lasts, one for SIGTERM, one to spare), and nothing that waits later holds the stop;
    at the exit, from then on.
    """
    global _watch_from, _watch_log
    when = deadline - 3 * TERM_WAIT
    _watch_from = when if _watch_from is None else min(_watch_from, when)
    _watch_log = log
    _watch_armed.set()


def _watch_waits() -> None:
    while True:
        start = _watch_from
        if start is None or time.monotonic() < start:
            _watch_armed.wait(None if start is None else start - time.monotonic())
            _watch_armed.clear()
            continue
        if not end_awaited_children(lambda line: _watch_log(line),
                                    f"which a thread has waited for during {TERM_WAIT:g} s as "
                                    "Orthanc stops", still=lambda: _watch_from is not None):
            time.sleep(WATCH_STEP)


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
    global _python_shutdown, _watch_log
    _watch_log = _to_stderr  # Orthanc's log is no more once the plugin has stopped
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
    # Runs first of all: multiprocessing's handler joins its children (a pool's finaliser
    # its workers) for ever, after a SIGTERM that one may ignore.
    atexit.register(lambda: watch_waits_by(time.monotonic(), _to_stderr))


def _to_stderr(line: str) -> None:
    print(f"orthanc-runtime: {line}", file=sys.stderr, flush=True)


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
