"""Shared-memory segments that carry large buffers beside a worker's pipe.

Each worker has two segments at a time, one a direction, each written by one
side only::

    master --writes--> /dev/shm/ortpool-<master_pid>-<serial>-m2w-<random> --read by--> worker
    worker --writes--> /dev/shm/ortpool-<master_pid>-<serial>-w2m-<random> --read by--> master

A segment is a plain file in /dev/shm mapped with mmap, created exclusively
(``O_CREAT | O_EXCL``, mode 0o600) under a name with 128 random bits: another
local user can neither guess the next name nor make its creation fail (a
collision, which only a guess could cause, is retried under a new name). The
writer reuses its segment for every message and, when a message does not fit,
creates a new one at double the size and unlinks the old. The reader copies
what it needs out at once, so the writer may overwrite the segment as soon as
the reader answers; the pipe's request/answer rhythm guarantees that.

A segment larger than ``LARGE_SEGMENT`` is used once: the writer unmaps it as
soon as the message is sent, and the reader unlinks and unmaps it once the
message is read (the frame says so), so that one large transfer does not keep
hundreds of megabytes of /dev/shm and of resident memory on both sides; the
next large message creates a new one.

multiprocessing.shared_memory is not used: on Python 3.11 a child that
attaches to a segment registers it with the resource tracker, which may
unlink it when the child exits.

Each side knows the names it creates. A worker that crashes may leave one the
master never heard of, so the master also removes, when a worker exits, every
segment of the current user under that worker's prefix, and at start-up those
of earlier masters that died without cleaning up. Segments of other users are
never touched.
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import secrets

SHM_THRESHOLD = 1 << 20
"""Buffers of this many bytes or more, and pickles larger than this, go through shared memory."""

LARGE_SEGMENT = 64 << 20
"""A segment needed for more than this is released after one message (see above).

Below it a segment is reused: creating, allocating and faulting in a fresh one
costs about 20 ms for a 32 MB DICOM file fetched by a worker, which doubled
the time of that call (benchmark P4: 1.93x the direct call with 16 MB here,
1.28x with 64 MB, 1.26x before segments were ever released, on one loaded
machine). So a worker keeps at most 64 MB each way between transfers.
"""

SHM_DIR = "/dev/shm"
_PREFIX = "ortpool"
# The last part is random (128 bits, hex); digits are an earlier version's
# generation number, matched so that its leftovers are cleaned up too.
_NAME = re.compile(rf"^{_PREFIX}-(\d+)-(\d+)-(m2w|w2m)-([0-9a-f]{{32}}|\d+)$")
_CREATE_ATTEMPTS = 8


def segment_prefix(master_pid: int, serial: int, direction: str) -> str:
    """The name of a segment without its random part: ``ortpool-<pid>-<serial>-<direction>``."""
    return f"{_PREFIX}-{master_pid}-{serial}-{direction}"


def create_segment(prefix: str, size: int) -> tuple[str, int]:
    """A new segment file of ``size`` bytes: its name, and a descriptor open for writing.

    Created exclusively, mode 0o600, under ``prefix`` and a random suffix; a
    name that exists already (someone guessed it) is retried under another.
    Raises OSError (ENOSPC) if /dev/shm is full.
    """
    for _ in range(_CREATE_ATTEMPTS):
        name = f"{prefix}-{secrets.token_hex(16)}"
        path = os.path.join(SHM_DIR, name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        try:
            # Allocating now turns a full /dev/shm into ENOSPC here, instead of
            # a SIGBUS later when the mapping is written.
            os.posix_fallocate(fd, 0, size)
        except BaseException:
            os.close(fd)
            unlink(name)
            raise
        return name, fd
    raise FileExistsError(errno.EEXIST, f"no free shared-memory name under {prefix} "
                                        f"after {_CREATE_ATTEMPTS} random attempts")


def _ours(name: str) -> bool:
    """A segment name of this module's format, in a file that belongs to the current user."""
    if not _NAME.match(name):
        return False
    try:
        return os.stat(os.path.join(SHM_DIR, name), follow_symlinks=False).st_uid == os.getuid()
    except OSError:
        return False


def worker_segments(master_pid: int, serial: int) -> list[str]:
    """Names of the current user's segments, in both directions, under one worker's prefix."""
    prefix = f"{_PREFIX}-{master_pid}-{serial}-"
    return [name for name in _listdir() if name.startswith(prefix) and _ours(name)]


def unlink(name: str) -> None:
    try:
        os.unlink(os.path.join(SHM_DIR, name))
    except (FileNotFoundError, PermissionError):
        pass


def unlink_worker_segments(master_pid: int, serial: int) -> None:
    for name in worker_segments(master_pid, serial):
        unlink(name)


def remove_stale_segments() -> list[str]:
    """Unlink the current user's segments whose master process is gone (a master killed by SIGKILL)."""
    removed = []
    for name in _listdir():
        match = _NAME.match(name)
        if match and not _pid_alive(int(match.group(1))) and _ours(name):
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
    """The writer's end: one reusable segment, grown by doubling; a large one used once."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.name: str | None = None
        self.capacity = 0
        self._map: mmap.mmap | None = None
        # A large segment handed over to the reader, which unlinks it once read;
        # unlinked here too at the next message or at close, whichever comes
        # first, in case the reader never read it.
        self._handed_over: str | None = None

    @property
    def single_use(self) -> bool:
        """Whether the current segment is released once its message is sent."""
        return self.capacity > LARGE_SEGMENT

    def reserve(self, size: int) -> None:
        """Make room for ``size`` bytes; raises OSError (ENOSPC) if /dev/shm is full."""
        self._forget_handed_over()
        if size <= self.capacity:
            return
        capacity = max(self.capacity, SHM_THRESHOLD)
        while capacity < size:
            capacity *= 2
        name, fd = create_segment(self.prefix, capacity)
        try:
            new_map = mmap.mmap(fd, capacity)
        except BaseException:
            unlink(name)
            raise
        finally:
            os.close(fd)
        self.close()
        self.name, self.capacity, self._map = name, capacity, new_map

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        assert self._map is not None
        self._map[offset : offset + len(data)] = data

    def hand_over(self) -> None:
        """The message is sent: unmap a single-use segment, leaving the name to the reader."""
        if not self.single_use:
            return
        if self._map is not None:
            self._map.close()
            self._map = None
        self._handed_over, self.name, self.capacity = self.name, None, 0

    def _forget_handed_over(self) -> None:
        # By the pipe's rhythm the reader has read it by now (and unlinked it).
        if self._handed_over is not None:
            unlink(self._handed_over)
            self._handed_over = None

    def close(self) -> None:
        """Unmap and unlink the current segment."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.name is not None:
            unlink(self.name)
            self.name = None
        self.capacity = 0
        self._forget_handed_over()


class InSegment:
    """The reader's end: maps the peer's current segment, and remaps when it changes."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._map: mmap.mmap | None = None

    def view(self, name: str) -> memoryview:
        """A read-only view of the segment ``name``; release it before the next call."""
        if name != self.name:
            self.close()
            fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                size = os.fstat(fd).st_size
                self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            self.name = name
        assert self._map is not None
        return memoryview(self._map)

    def close(self, unlink_it: bool = False) -> None:
        """Unmap the segment; with ``unlink_it``, unlink it too (a single-use one, once read)."""
        if unlink_it and self.name is not None:
            unlink(self.name)
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
