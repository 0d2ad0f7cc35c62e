"""The protocol between the master and one worker: small messages keyed by ids.

Each worker has its own duplex pipe. Exactly one master thread talks to a
worker at a time (the caller of ``Pool.run`` while a task runs, else the
supervisor), so there is no multiplexing and no reader thread::

    master (thread in Pool.run)                       worker (main thread)
    ---------------------------                       --------------------
                                  <-- Ready(pid) --------------  after the initializer
                                  <-- StartFailed(error) ------  or instead of it
    Task(task_id, fn, args, kwargs) -------------------------->  runs fn(*args, **kwargs)
                                  <-- Call(call_id, name, ...)   call_master(name, ...)
    master_functions[name](...)
    Reply(call_id, value) ------------------------------------>  call_master returns value
    ReplyError(call_id, error) ------------------------------->  or raises the error
                                  ... any number of calls ...
                                  <-- Result(task_id, value, rss)
                                  <-- Failure(task_id, error, rss)
    Stop() --------------------------------------------------->  exits (recycling, shutdown)

The master waits on the pipe and on the worker's sentinel together, so a
worker that dies is an error, never a hang. A timed-out task is not
cancelled by message: its worker is killed.

Large buffers do not travel in these messages but in shared memory (see
``pool.channel``): in their place a message holds :class:`ShmBuffer`, and when
the pickle of a message is itself large the pipe carries only
:class:`ShmFrame`.

``rss`` is the worker's resident memory in bytes after the task, measured only
when the pool has a memory limit (else 0); the master recycles the worker when
it is over the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pool.errors import ExceptionInfo

NO_TASK = -1
"""The task id of a Failure to read a Task, or of a worker with no task running."""


class Ready(NamedTuple):
    pid: int


class StartFailed(NamedTuple):
    error: ExceptionInfo


class Task(NamedTuple):
    task_id: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Call(NamedTuple):
    call_id: int
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Reply(NamedTuple):
    call_id: int
    value: Any


class ReplyError(NamedTuple):
    call_id: int
    error: ExceptionInfo


class Result(NamedTuple):
    task_id: int
    value: Any
    rss: int


class Failure(NamedTuple):
    task_id: int
    error: ExceptionInfo
    rss: int


class Stop(NamedTuple):
    pass


class ShmBuffer(NamedTuple):
    """Stands in a message for a large buffer written to the sender's segment."""

    offset: int
    size: int
    kind: int  # BYTES or BYTEARRAY


BYTES = 0
BYTEARRAY = 1


class ShmFrame(NamedTuple):
    """What the pipe carries when a message has parts in the sender's segment.

    ``pickled`` is the message's pickle when it is small; else the pickle is in
    the segment at ``offset``, ``size`` bytes. ``single_use``: the segment is
    large, the writer has let it go, and the reader unlinks it once read.
    ``buffers``: (offset, size) of the pickle's out-of-band buffers, in order.
    """

    segment: str
    pickled: bytes | None
    offset: int
    size: int
    single_use: bool = False
    buffers: tuple[tuple[int, int], ...] = ()


Message = Ready | StartFailed | Task | Call | Reply | ReplyError | Result | Failure | Stop
