"""Task functions for the pool's tests, importable by reference in the workers,
and the checks the tests share: a pool serves at full size, with no stray
process and no stray shared-memory segment.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from pool import Pool, call_master, in_worker
from pool import context as pool_context
from pool.shm import SHM_DIR

MB = 1 << 20
IMPORTED_IN_WORKER = in_worker()
IMPORTED_BY = os.getpid()


# -- tasks --


def add(a: int, b: int) -> int:
    return a + b


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def getpid() -> int:
    return os.getpid()


def sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def started_at(seconds: float) -> float:
    """When the task started (CLOCK_MONOTONIC is one clock for all processes)."""
    start = time.monotonic()
    time.sleep(seconds)
    return start


def sleep_ignoring_sigterm(seconds: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)


class NeedsTwoArguments(Exception):
    """Pickles, but does not unpickle: __init__ wants more than ``args``."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def raise_unpicklable() -> None:
    raise NeedsTwoArguments("left", "right")


def raise_with_lock() -> None:
    error = RuntimeError("holds a lock")
    error.lock = threading.Lock()  # type: ignore[attr-defined]
    raise error


def return_unpicklable() -> Any:
    return threading.Lock()


def die(how: str) -> None:
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "segfault":
        ctypes.string_at(0)
    elif how == "exit":
        os._exit(3)
    time.sleep(10)


def ask_master(name: str, *args: Any, **kwargs: Any) -> Any:
    return call_master(name, *args, **kwargs)


def ask_master_and_catch(name: str, *args: Any) -> tuple[str, str, str]:
    """The type, message and remote traceback of what call_master raised."""
    try:
        call_master(name, *args)
    except BaseException as exc:
        return type(exc).__name__, str(exc), str(exc.__cause__)
    return "", "", ""


def ask_master_many(name: str, count: int) -> list[Any]:
    return [call_master(name, i) for i in range(count)]


def whereami() -> tuple[bool, int]:
    return in_worker(), os.getpid()


def how_imported() -> tuple[bool, bool]:
    """Whether in_worker() was True at import, and whether another process (the fork server) imported us."""
    return IMPORTED_IN_WORKER, IMPORTED_BY != os.getpid()


_initialized: list[int] = []


def initialize() -> None:
    _initialized.append(os.getpid())


def initialized() -> list[int]:
    return list(_initialized)


def failing_initializer() -> None:
    raise RuntimeError("initializer refuses")


def dying_initializer() -> None:
    os._exit(5)


def modules_loaded(*names: str) -> list[bool]:
    return [name in sys.modules for name in names]


_kept: list[bytearray] = []


def grow(megabytes: int) -> int:
    block = bytearray(megabytes * MB)
    for i in range(0, len(block), 4096):
        block[i] = 1
    _kept.append(block)
    return os.getpid()


def pattern(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that are not all alike, cheap to make."""
    unit = bytes((seed + i) % 251 for i in range(251))
    return (unit * (size // 251 + 1))[:size]


def digest(data: Any) -> str:
    return hashlib.sha1(data).hexdigest()


def describe(*args: Any, **kwargs: Any) -> list[tuple[str, int, str]]:
    """Type, length and digest of each buffer argument and keyword value, in order."""
    values = list(args) + [kwargs[key] for key in sorted(kwargs)]
    return [(type(v).__name__, len(v), digest(v)) for v in values]


def make(size: int, kind: str = "bytes") -> Any:
    data = pattern(size, 7)
    return bytearray(data) if kind == "bytearray" else data


def make_tuple(size: int) -> tuple[bytes, bytes, int]:
    return pattern(size, 1), pattern(size, 2), 3


class Blob:
    """An object that hands its bytes to pickle out of band (protocol 5), as a Response does."""

    def __init__(self, data: Any) -> None:
        self.data = bytes(data)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return Blob, (pickle.PickleBuffer(self.data),)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and other.data == self.data


def make_blobs(size: int) -> list[Blob]:
    return [Blob(pattern(size, 4)), Blob(b"small")]


def big_response(request: Any) -> Any:
    """A route handler (runtime.http) whose answer has a body of ``request.params['size']``."""
    from runtime.http import Response

    return Response(pattern(request.params["size"], 9), 201, "application/dicom",
                    {"X-Size": str(request.params["size"])})


def make_list_of_ints(count: int) -> list[int]:
    return list(range(count))


def sum_list(values: list[int]) -> int:
    return sum(values)


def send_big_to_master(size: int) -> Any:
    return call_master("describe", pattern(size, 5))


def fetch_big_from_master(size: int) -> tuple[int, str, float]:
    """Ask the master for ``size`` bytes; their length, digest, and the seconds the call took."""
    start = time.perf_counter()
    data = call_master("make", size)
    elapsed = time.perf_counter() - start
    return len(data), digest(data), elapsed


def worker_mappings() -> list[str]:
    """The /dev/shm files this process maps that are unlinked already (memory held for nothing)."""
    with open("/proc/self/maps") as maps:
        return [line.split(None, 5)[5].strip() for line in maps
                if "/dev/shm/ortpool" in line and line.rstrip().endswith("(deleted)")]


def start_sleep(pid_file: str, then: str = "return") -> int:
    """Start ``sleep 600``, write its pid to ``pid_file``, then return, hang or crash."""
    child = subprocess.Popen(["sleep", "600"])
    with open(pid_file, "w") as file:
        file.write(str(child.pid))
    if then == "hang":
        time.sleep(600)
    elif then == "crash":
        os._exit(3)
    return child.pid


def nested(value: int) -> int:
    return call_master("offload", value) + 1


def double(value: int) -> int:
    return 2 * value


# -- checks --


def our_segments() -> list[str]:
    """The segments of this process's pools (another user's files under the prefix are not)."""
    prefix = f"ortpool-{os.getpid()}-"
    uid = os.getuid()
    return sorted(
        name for name in os.listdir(SHM_DIR)
        if name.startswith(prefix) and _owner(os.path.join(SHM_DIR, name)) == uid
    )


def _owner(path: str) -> int | None:
    try:
        return os.stat(path).st_uid
    except FileNotFoundError:
        return None


def _of_a_dask_cluster(process: psutil.Process) -> bool:
    """A process of the session's Dask cluster (tests/dask_cluster.py), or one of its children:
    with pytest-xdist it may outlive its tests in the worker that runs these."""
    try:
        for ancestor in [process, *process.parents()]:
            # ".venv/bin/dask scheduler": the script, run by its interpreter
            if any(Path(part).name == "dask" for part in ancestor.cmdline()[:2]):
                return True
    except psutil.Error:
        pass
    return False


def live_children() -> set[int]:
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and not _of_a_dask_cluster(child):
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def wait_until(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def assert_healthy(pool: Pool) -> None:
    """The pool is at full size, every worker serves, and nothing else lingers."""

    def full() -> bool:
        workers = pool.status()["workers"]
        return workers["idle"] == pool.workers and workers["total"] == pool.workers

    wait_until(full, what=f"{pool.workers} idle workers: {pool.status()}")
    pids = set(pool.status()["workers"]["pids"])
    # Hold every worker at once, so each must answer.
    served: list[int] = []
    threads = [
        threading.Thread(target=lambda: served.append(pool.run(sleep, (0.2,))))
        for _ in range(pool.workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(served) == pids, (served, pids)
    expected = pids | set(pool_context.helper_pids())
    wait_until(lambda: live_children() == expected, what=f"children {expected}")
    serials = {handle.serial for handle in pool._workers.values()}
    for name in our_segments():
        assert int(name.split("-")[2]) in serials, f"stray segment {name}"


def assert_clean() -> None:
    """Nothing of any pool is left: no child process, no segment."""
    wait_until(lambda: not live_children(), timeout=10, what=f"no children: {live_children()}")
    assert our_segments() == []


class PoolFactory:
    """Makes pools for a test, and shuts them down and checks for leaks after it."""

    def __init__(self) -> None:
        self.pools: list[Pool] = []

    def __call__(self, **options: Any) -> Pool:
        options.setdefault("workers", 2)
        options.setdefault("task_timeout", 60.0)
        pool = Pool(**options)
        self.pools.append(pool)
        pool.start()
        return pool

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(grace=5)
        assert_clean()


@contextmanager
def pool_factory() -> Iterator[PoolFactory]:
    factory = PoolFactory()
    try:
        yield factory
    finally:
        factory.close()
