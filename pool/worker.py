"""The worker process: its main loop, and ``call_master`` for the tasks it runs.

A worker is started by multiprocessing (fork server or spawn) with one end of
its own duplex pipe. It lives through these steps::

    main(conn, config)
      lead a process group of its own (what its tasks start joins it);
      ignore SIGINT; die with the parent (PR_SET_PDEATHSIG, and a thread
          watching the parent's sentinel, which takes the group down too)
      import config.preload; run config.initializer
      send Ready(pid)                     or StartFailed(error), and exit 1
      loop:
        recv Task   -> fn(*args, **kwargs), meanwhile call_master() sends
                       Call and waits for Reply/ReplyError on the same pipe
                    -> send Result(value) or Failure(error)
        recv Stop   -> leave the loop
        EOF         -> the master died: unlink our segments, kill our group
      close the pipe, unlink our w2m segment

The master owns the worker's life: it kills the worker on a timeout, and
replaces it when it crashes or is recycled. The worker only answers. Every
kill is sent to the worker's process group, so that the processes a task
started (a ``subprocess.Popen`` in a handler) end with the worker.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from pool.channel import Channel, RawFrame
from pool.errors import ExceptionInfo, PoolError
from pool.messages import (
    NO_TASK,
    Call,
    Failure,
    Ready,
    Reply,
    ReplyError,
    Result,
    StartFailed,
    Stop,
    Task,
)
from pool.shm import segment_prefix, unlink_worker_segments

_PR_SET_PDEATHSIG = 1


class WorkerConfig(NamedTuple):
    """What the master tells a new worker; pickled into the worker at start."""

    master_pid: int
    serial: int
    preload: tuple[str, ...]
    initializer: Callable[[], None] | None
    measure_rss: bool


class _WorkerState:
    """The running worker, as call_master sees it."""

    def __init__(self, channel: Channel, measure_rss: bool) -> None:
        self.channel = channel
        # call_master may be called from threads the task starts; one call at a time.
        self.lock = threading.Lock()
        self.task_id = NO_TASK
        self.next_call_id = 0
        self._process: Any = None
        if measure_rss:
            import psutil

            self._process = psutil.Process()

    def rss(self) -> int:
        return int(self._process.memory_info().rss) if self._process is not None else 0


_state: _WorkerState | None = None
_in_worker = False
_raw_handler: Callable[[bytes], Any] | None = None

RAW_TASK = -2
"""The task id of the answer to a raw frame when it travels as a message (Result, Failure)."""


def set_raw_handler(handler: Callable[[bytes], Any] | None) -> None:
    """What this worker does with a raw frame (:class:`pool.channel.RawFrame`): ``handler(data)``
    returns the answer's bytes (sent as a raw frame), or any other value (sent as
    ``Result(RAW_TASK, value)``, large buffers in shared memory); what it raises is sent as
    ``Failure(RAW_TASK, ...)``. :func:`call_master` works meanwhile, as in a task."""
    global _raw_handler
    _raw_handler = handler


def in_worker() -> bool:
    """True in a pool worker process (from its start: preload and initializer see it too)."""
    return _in_worker


def in_task() -> bool:
    """True while a task runs in this worker: only then can :func:`call_master` reach the master."""
    state = _state
    return state is not None and state.task_id != NO_TASK


def call_master(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``master_functions[name](*args, **kwargs)`` in the master and return its result.

    Only inside a task running in a pool worker. An exception raised by the
    master function is raised here: the same type if it pickles, else
    :class:`RemoteError`, with the master's traceback as ``__cause__``.

        >>> def task(instance_id):
        ...     return call_master("get_dicom", instance_id)
    """
    state = _state
    if state is None:
        raise PoolError("call_master() works only in a task running in a pool worker")
    with state.lock:
        if state.task_id == NO_TASK:
            raise PoolError("call_master() works only while a task is running")
        state.next_call_id += 1
        call_id = state.next_call_id
        state.channel.send(Call(call_id, name, args, kwargs))
        reply = state.channel.recv()
    if type(reply) is Reply and reply.call_id == call_id:
        return reply.value
    if type(reply) is ReplyError and reply.call_id == call_id:
        raise reply.error.rebuild()
    raise PoolError(f"protocol error: expected the answer to call {call_id}, got {reply!r:.200}")


def main(conn: Connection, config: WorkerConfig) -> None:
    """The worker's entry point (the target of its multiprocessing.Process)."""
    global _state, _in_worker
    _in_worker = True
    _lead_a_process_group()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(config)
    channel = Channel(conn, segment_prefix(config.master_pid, config.serial, "w2m"))
    try:
        try:
            for module in config.preload:
                importlib.import_module(module)
            if config.initializer is not None:
                config.initializer()
        except BaseException as exc:
            channel.send(StartFailed(ExceptionInfo.capture(exc)))
            sys.exit(1)
        _state = _WorkerState(channel, config.measure_rss)
        channel.send(Ready(os.getpid()))
        if not _serve(_state):
            # EOF: the master closes our pipe only once we are dead, so it died.
            # The watcher thread would end us too, but we may get here first.
            _end_without_master(config)
    finally:
        _state = None
        channel.close()


def _serve(state: _WorkerState) -> bool:
    """Serve tasks until Stop (True) or the end of the pipe (False)."""
    channel = state.channel
    while True:
        try:
            msg = channel.recv()
        except (EOFError, OSError):
            return False
        except Exception as exc:
            # A task that does not unpickle here (its function's module does not import).
            channel.send(Failure(NO_TASK, ExceptionInfo.capture(exc), state.rss()))
            continue
        if type(msg) is Task:
            _run_task(state, msg)
        elif type(msg) is RawFrame:
            _run_raw(state, msg)
        elif type(msg) is Stop:
            return True
        else:
            error = PoolError(f"protocol error: a worker expects Task or Stop, got {msg!r:.200}")
            channel.send(Failure(NO_TASK, ExceptionInfo.capture(error), state.rss()))


def _run_task(state: _WorkerState, task: Task) -> None:
    state.task_id = task.task_id
    answer: Result | Failure
    try:
        value = task.fn(*task.args, **task.kwargs)
    except BaseException as exc:
        answer = Failure(task.task_id, ExceptionInfo.capture(exc), 0)
    else:
        answer = Result(task.task_id, value, 0)
    finally:
        with state.lock:
            state.task_id = NO_TASK
    _send_answer(state, answer, f"the result of {_describe(task.fn)}")


def _send_answer(state: _WorkerState, answer: Result | Failure, what: str) -> None:
    answer = answer._replace(rss=state.rss())
    try:
        state.channel.send(answer)
    except Exception as exc:
        # Pickling fails before anything is written, so the pipe is still clean.
        error = PoolError(f"{what} could not be sent: {exc}")
        error.__cause__ = exc
        state.channel.send(Failure(answer.task_id, ExceptionInfo.capture(error), answer.rss))


def _run_raw(state: _WorkerState, frame: RawFrame) -> None:
    state.task_id = RAW_TASK
    answer: Result | Failure | None = None
    value: Any = None
    try:
        if _raw_handler is None:
            raise PoolError("this worker has no handler of raw frames (pool.worker.set_raw_handler)")
        value = _raw_handler(frame.data)
    except BaseException as exc:
        answer = Failure(RAW_TASK, ExceptionInfo.capture(exc), 0)
    else:
        if not isinstance(value, (bytes, bytearray)):
            answer = Result(RAW_TASK, value, 0)
    finally:
        with state.lock:
            state.task_id = NO_TASK
    if answer is None:
        state.channel.send_raw(bytes(value))
        return
    _send_answer(state, answer, "the answer to a raw frame")


def _describe(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _lead_a_process_group() -> None:
    """Make this worker the leader of a new process group, before it runs any code of the caller's.

    Children inherit the group, so the master's ``killpg`` reaches whatever a
    task started, and so does our own ``_exit_when_ready``. Done here rather
    than by the master: under forkserver the master is not our parent and may
    not set our group.
    """
    try:
        os.setpgid(0, 0)
    except OSError:
        pass  # a session leader cannot; the master then signals us alone (killpg finds no group)


def _leads_its_group() -> bool:
    return os.getpgrp() == os.getpid()


def _die_with_parent(config: WorkerConfig) -> None:
    """Exit when the master dies, even by SIGKILL, so no worker outlives it.

    The parent's sentinel is the master's end of a pipe: it reads EOF when the
    master is gone, whatever process forked us. PR_SET_PDEATHSIG is a second
    guard for our OS parent (the master under spawn, the fork server under
    forkserver).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return
    watcher = threading.Thread(
        target=_exit_when_ready, args=(sentinel, config), name="pool-parent-watch", daemon=True
    )
    watcher.start()


def _exit_when_ready(sentinel: int, config: WorkerConfig) -> None:
    multiprocessing.connection.wait([sentinel])
    _end_without_master(config)


def _end_without_master(config: WorkerConfig) -> None:
    # The master cannot clean up after us any more: remove the segments of
    # this worker (ours and the master's) ourselves.
    unlink_worker_segments(config.master_pid, config.serial)
    if _leads_its_group():
        # The master cannot kill our group any more: do it (we are in it).
        os.killpg(0, signal.SIGKILL)
    os._exit(1)
