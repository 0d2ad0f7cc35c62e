"""The master's handle on one worker process: start it, wait on it, end it.

One thread owns a handle at a time: the supervisor while the worker starts,
sits idle or retires, the caller of ``Pool.run`` while it runs a task. So a
handle needs no lock; the pool's lock guards only the hand-overs.

A worker leads its own process group (``pool.worker``), and the processes
its tasks start belong to it: every signal goes to the group, and once the
worker is seen dead, whatever is left of its group is killed.
"""

from __future__ import annotations

import enum
import multiprocessing.process
import os
import select
import signal
import time
from multiprocessing.context import BaseContext
from typing import Any

from pool import worker
from pool.channel import Channel
from pool.shm import segment_prefix, unlink_worker_segments

_POLL_MAX_MS = 2**31 - 1  # poll() takes a C int; longer waits wake up and wait again


class State(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RETIRING = "retiring"


class WorkerHandle:
    """One worker process, its channel, and what the pool knows of it."""

    def __init__(self, serial: int, master_pid: int, temporary: bool = False) -> None:
        self.serial = serial
        self.master_pid = master_pid
        self.temporary = temporary
        self.state = State.STARTING
        self.pid: int | None = None
        self.tasks_done = 0
        self.tasks_lent = 0  # answered while lent outside the pool (pool.idle), as last counted
        self.started_at: float | None = None  # time.time() when it was launched
        self.process: Any = None
        self.channel: Channel | None = None
        self.sentinel = -1
        self.exitcode: int | None = None
        self._poller = select.poll()
        self.conn_fd = -1
        self._released = False

    def __repr__(self) -> str:
        return f"<worker {self.serial} pid={self.pid} {self.state.value}>"

    def launch(self, ctx: BaseContext, config: worker.WorkerConfig, name: str) -> None:
        """Start the process; it says Ready (or StartFailed) on the channel later."""
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(  # type: ignore[attr-defined]
            target=worker.main, args=(child_conn, config), name=name, daemon=False
        )
        try:
            process.start()
        except BaseException:
            parent_conn.close()
            raise
        finally:
            child_conn.close()
        # multiprocessing polls every child it knows of whenever any Process
        # starts, from whatever thread starts it; a poll racing with our own
        # join can misread the exit code. The pool reaps its workers itself.
        multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]
        self.process = process
        self.pid = process.pid
        self.started_at = time.time()
        self.sentinel = process.sentinel
        self.channel = Channel(parent_conn, segment_prefix(self.master_pid, self.serial, "m2w"))
        self.conn_fd = parent_conn.fileno()
        self._poller.register(self.conn_fd, select.POLLIN)
        self._poller.register(self.sentinel, select.POLLIN)

    def wait(self, timeout: float) -> bool | None:
        """Wait for the pipe or the sentinel: True = a message, False = the worker died, None = timeout."""
        milliseconds = min(max(0.0, timeout * 1000 + 0.999), _POLL_MAX_MS)
        events = self._poller.poll(int(milliseconds))
        if not events:
            return None
        for fd, _ in events:
            if fd == self.conn_fd:
                return True
        return False

    def join(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the process to end; its exit code, or None if it lives.

        When it has ended, what is left of its process group is killed.
        """
        if self.exitcode is None and self.process is not None and not self._released:
            self.process.join(timeout)
            self.exitcode = self.process.exitcode
            if self.exitcode is not None:
                self._kill_group_remains()
        return self.exitcode

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the worker's process group (the worker, and what its tasks started)."""
        if self.pid is None or self.exitcode is not None or self._released:
            return
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            # No such group yet: the worker has not reached setpgid. Only it exists.
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def _kill_group_remains(self) -> None:
        # The kernel keeps a group's id from being reused as a pid while any
        # member lives, so this reaches only what the worker left behind. An
        # empty group's id may be reused; hitting a new group of that number
        # would need the pids to wrap around between the worker's death and
        # this call, which follows it at once.
        assert self.pid is not None
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_and_join(self) -> int | None:
        """SIGKILL, then reap."""
        self.signal(signal.SIGKILL)
        return self.join(10.0)

    def release(self) -> int | None:
        """Reap the (dead) process, close the channel, unlink both segments. Idempotent."""
        if self._released:
            return self.exitcode
        if self.process is not None:
            if self.join(0.0) is None:
                self.kill_and_join()
            try:
                self.process.close()
            except ValueError:
                pass  # still alive after SIGKILL (uninterruptible sleep); let it go
        self._released = True
        if self.channel is not None:
            self.channel.close()
        unlink_worker_segments(self.master_pid, self.serial)
        return self.exitcode
