"""Shared-memory segments that carry large buffers beside a worker's pipe.

Each worker has two segments, one a direction, each written by one side only::

    master --writes--> /dev/shm/ortpool-<master_pid>-<serial>-m2w-<gen> --read by--> worker
    worker --writes--> /dev/shm/ortpool-<master_pid>-<serial>-w2m-<gen> --read by--> master

A segment is a plain file in /dev/shm (mode 0o600) mapped with mmap. The
writer reuses it for every message and, when a message does not fit, creates
the next generation at double the size and unlinks the old one. The reader
copies what it needs out at once, so the writer may overwrite the segment as
soon as the reader answers; the pipe's request/answer rhythm guarantees that.

multiprocessing.shared_memory is not used: on Python 3.11 a child that
attaches to a segment registers it with the resource tracker, which may
unlink it when the child exits.

The master knows every name (the prefix is enough), so it unlinks a worker's
segments when the worker exits or crashes, and at start-up it removes the
segments of earlier masters that died without cleaning up.
"""

from __future__ import annotations

import errno
import mmap
import os
import re

SHM_THRESHOLD = 1 << 20
"""Buffers of this many bytes or more, and pickles larger than this, go through shared memory."""

SHM_DIR = "/dev/shm"
_PREFIX = "ortpool"
_NAME = re.compile(rf"^{_PREFIX}-(\d+)-(\d+)-(m2w|w2m)-(\d+)$")


def segment_prefix(master_pid: int, serial: int, direction: str) -> str:
    """The name of a segment without its generation: ``ortpool-<pid>-<serial>-<direction>``."""
    return f"{_PREFIX}-{master_pid}-{serial}-{direction}"


def worker_segments(master_pid: int, serial: int) -> list[str]:
    """Names of the segments, in both directions, that exist for one worker."""
    prefix = f"{_PREFIX}-{master_pid}-{serial}-"
    return [name for name in _listdir() if name.startswith(prefix) and _NAME.match(name)]


def master_segments(master_pid: int) -> list[str]:
    """Names of all segments of one master's workers."""
    prefix = f"{_PREFIX}-{master_pid}-"
    return [name for name in _listdir() if name.startswith(prefix) and _NAME.match(name)]


def unlink(name: str) -> None:
    try:
        os.unlink(os.path.join(SHM_DIR, name))
    except FileNotFoundError:
        pass


def unlink_worker_segments(master_pid: int, serial: int) -> None:
    for name in worker_segments(master_pid, serial):
        unlink(name)


def remove_stale_segments() -> list[str]:
    """Unlink segments whose master process is gone (a master killed by SIGKILL)."""
    removed = []
    for name in _listdir():
        match = _NAME.match(name)
        if match and not _pid_alive(int(match.group(1))):
            unlink(name)
            removed.append(name)
    return removed


def _listdir() -> list[str]:
    try:
        return os.listdir(SHM_DIR)
    except FileNotFoundError:
        return []


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutSegment:
    """The writer's end: one reusable segment, grown by doubling, renamed per generation."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.generation = 0
        self.name: str | None = None
        self.capacity = 0
        self._map: mmap.mmap | None = None

    def reserve(self, size: int) -> None:
        """Make room for ``size`` bytes; raises OSError (ENOSPC) if /dev/shm is full."""
        if size <= self.capacity:
            return
        capacity = max(self.capacity, SHM_THRESHOLD)
        while capacity < size:
            capacity *= 2
        name = f"{self.prefix}-{self.generation + 1}"
        path = os.path.join(SHM_DIR, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # Allocating now turns a full /dev/shm into ENOSPC here, instead of
            # a SIGBUS later when the mapping is written.
            os.posix_fallocate(fd, 0, capacity)
            new_map = mmap.mmap(fd, capacity)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        self.close()
        self.generation += 1
        self.name, self.capacity, self._map = name, capacity, new_map

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        assert self._map is not None
        self._map[offset : offset + len(data)] = data

    def close(self) -> None:
        """Unmap and unlink the current generation."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.name is not None:
            unlink(self.name)
            self.name = None
        self.capacity = 0


class InSegment:
    """The reader's end: maps the peer's current generation, and remaps when it changes."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._map: mmap.mmap | None = None

    def view(self, name: str) -> memoryview:
        """A read-only view of the segment ``name``; release it before the next call."""
        if name != self.name:
            self.close()
            fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            self.name = name
        assert self._map is not None
        return memoryview(self._map)

    def close(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                # A view is still exported (an error path); the mapping goes with it.
                pass
            self._map = None
        self.name = None


def is_out_of_space(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG)
