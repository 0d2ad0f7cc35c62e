"""The multiprocessing machinery that all pools of a process share.

multiprocessing keeps, per process, one executable setting, one fork server
and one resource tracker. A pool takes them with :func:`acquire` before it
starts a worker and gives them back with :func:`release` when it has shut
down. When the last pool gives them back, the fork server is stopped, and the
resource tracker too if it was started for the pools, so that a shut-down
pool leaves no child process behind.

The fork server is shared: ``preload`` and ``executable`` take effect when it
starts, so the first pool to start a worker decides them until every pool has
shut down.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing import connection, forkserver, resource_tracker
from multiprocessing.context import BaseContext

from pool.errors import WorkerStartFailed

START_METHODS = ("forkserver", "spawn")

# sun_path holds 108 bytes on Linux, the final NUL among them.
AF_UNIX_PATH_MAX = 107

_lock = threading.Lock()
_users = 0
_tracker_is_ours = False


# Workers turn every large buffer that crosses in shared memory into a fresh
# bytes object; glibc maps those one 4 KB page at a time, and the page faults
# cost more than the copy (12 ms against 3 ms for 32 MB, measured here). With
# transparent huge pages for glibc's large chunks, a 32 MB buffer faults 16
# times instead of 8192. The fork server, hence every worker, inherits this
# environment; the master's own allocator is untouched (it is already running).
MALLOC_TUNABLE = "glibc.malloc.hugetlb=1"

FORKSERVER_STOP_GRACE = 2.0
"""Seconds the fork server has to exit once asked, before it is killed."""

# The modules the fork server preloads, for forkserver_mark (the fork server
# inherits the master's environment when it starts).
PRELOAD_VARIABLE = "ORTPOOL_PRELOAD"


def _tune_worker_malloc() -> None:
    current = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" not in current:
        os.environ["GLIBC_TUNABLES"] = f"{current}:{MALLOC_TUNABLE}" if current else MALLOC_TUNABLE


def acquire(start_method: str, executable: str, preload: Sequence[str]) -> BaseContext:
    """The context to start workers with, configured; pair every call with :func:`release`."""
    global _users, _tracker_is_ours
    _tune_worker_malloc()
    if start_method not in START_METHODS:
        raise ValueError(
            f"start_method must be one of {', '.join(START_METHODS)}, not {start_method!r}"
            " (fork would copy the master's threads and locks)"
        )
    ctx = multiprocessing.get_context(start_method)
    with _lock:
        ctx.set_executable(executable)
        if start_method == "forkserver":
            # Our modules first: a new worker then only forks, it imports nothing.
            # The caller's modules are imported by forkserver_mark, which guards
            # them: multiprocessing's fork server dies of any exception but an
            # ImportError in a preloaded module, and then no worker can start.
            _check_forkserver_address()
            os.environ[PRELOAD_VARIABLE] = ",".join(preload)
            ctx.set_forkserver_preload(["pool.forkserver_mark", "pool.worker"])  # type: ignore[attr-defined]
        if _users == 0:
            _tracker_is_ours = _tracker_pid() is None
        _users += 1
    return ctx


def _check_forkserver_address() -> None:
    """Refuse, naming TMPDIR, a temporary folder too deep for the fork server's socket.

    multiprocessing listens on a socket file in a folder of its own under the
    temporary folder, and fails with a bare "AF_UNIX path too long" that names neither.
    """
    if getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None) is not None:
        return  # running already: its socket is bound
    address = connection.arbitrary_address("AF_UNIX")  # type: ignore[attr-defined]  # a name only
    if isinstance(address, str) and not address.startswith("\0"):
        size = len(os.fsencode(address))
        if size > AF_UNIX_PATH_MAX:
            raise WorkerStartFailed(
                None, None,
                f"the fork server's socket would be {address} ({size} bytes), longer than the "
                f"{AF_UNIX_PATH_MAX} bytes a Unix socket's path may have: set TMPDIR to a shorter "
                f"folder (it is {os.environ.get('TMPDIR', '(unset)')!r}), or start workers with "
                "start_method='spawn'")


def release() -> None:
    """Give the machinery back; the last user stops the fork server and our resource tracker.

    Call only when the pool's workers are gone: the fork server exits when
    every holder of its "alive" pipe (the master and each worker) has closed it.
    """
    global _users, _tracker_is_ours
    with _lock:
        _users -= 1
        if _users > 0:
            return
        server = getattr(forkserver, "_forkserver", None)
        if server is not None and getattr(server, "_forkserver_pid", None) is not None:
            _stop_forkserver(server)
        if _tracker_is_ours and _tracker_pid() is not None:
            resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]
        _tracker_is_ours = False


def _stop_forkserver(server: object) -> None:
    """Stop the fork server, killing it if it does not exit within FORKSERVER_STOP_GRACE.

    multiprocessing waits for it without a limit, and a fork server that
    imported a script starting a non-daemon thread never exits: its Python
    waits for that thread at exit.
    """
    pid: int = server._forkserver_pid  # type: ignore[attr-defined]

    def kill_if_still_there() -> None:
        # Until _stop has reaped it, the pid is still the fork server's.
        if getattr(server, "_forkserver_pid", None) == pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    killer = threading.Timer(FORKSERVER_STOP_GRACE, kill_if_still_there)
    killer.daemon = True
    killer.start()
    try:
        server._stop()  # type: ignore[attr-defined]
    finally:
        killer.cancel()


def _tracker_pid() -> int | None:
    tracker = getattr(resource_tracker, "_resource_tracker", None)
    return getattr(tracker, "_pid", None)


def helper_pids() -> list[int]:
    """Pids of the fork server and the resource tracker, when running (for status and tests)."""
    pids = []
    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None:
        pids.append(pid)
    pid = _tracker_pid()
    if pid is not None:
        pids.append(pid)
    return pids
