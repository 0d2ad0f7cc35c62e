"""One task on one worker, from the caller's thread: send it, serve its calls back, get the answer.

This is the master's half of the protocol in ``pool.messages``, for a thread
that already holds a worker. It knows nothing of the other workers, of the
line of waiting callers, or of the pool's policies: it says how the task
ended (an :class:`Ending`), and the pool decides what becomes of the worker::

    send Task ----------------------------------------------------------+
    loop: wait [pipe, sentinel] until the deadline                      |
        nothing by the deadline  -> TIMEOUT   (the worker must die)     |
        sentinel, EOF            -> DEAD      (crashed)                 |
        Call                     -> serve it on this thread, loop       |
        Result / Failure         -> IDLE      (ready for the next task) |
        unreadable, unexpected   -> KILL      (state unknown)           |
    a Task that does not pickle  -> UNUSED    (nothing was sent) <------+
    the pipe is broken           -> GONE      (died idle: nothing was sent)

Master functions run on this thread, so a call back costs no thread hop.
:func:`serving_depth` tells whether this thread is inside one, which is how
the pool recognises a nested ``run()``.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pool.errors import ExceptionInfo, PoolError, TaskTimeout, UnknownMasterFunction
from pool.handle import WorkerHandle
from pool.messages import NO_TASK, Call, Failure, Reply, ReplyError, Result, Task


class Ending(enum.Enum):
    """How a task left its worker, hence what becomes of the worker."""

    IDLE = "idle"  # answered: ready for the next task
    RECYCLE = "recycle"  # answered, but done enough or too big (the pool's call)
    TIMEOUT = "timeout"  # SIGTERM now, SIGKILL soon
    DEAD = "dead"  # crashed
    GONE = "gone"  # found dead before the task was sent: the task may go elsewhere
    KILL = "kill"  # in an unknown state (protocol error, interrupted caller)
    UNUSED = "unused"  # nothing was sent


class Outcome(NamedTuple):
    ending: Ending
    ok: bool  # True: payload is the task's value; False: an exception, or None if DEAD
    payload: Any
    rss: int = 0  # the worker's resident memory after the task, if measured


class _Serving(threading.local):
    depth = 0


_serving = _Serving()


def serving_depth() -> int:
    """How many master functions this thread is running for workers right now."""
    return _serving.depth


def run_task(
    handle: WorkerHandle,
    task: Task,
    seconds: float,
    master_functions: Mapping[str, Callable[..., Any]],
) -> Outcome:
    """Run ``task`` on the worker, serving its calls back, within ``seconds``."""
    channel = handle.channel
    assert channel is not None
    try:
        channel.send(task)
    except (BrokenPipeError, ConnectionResetError):
        return Outcome(Ending.GONE, False, None)
    except OSError:
        raise  # the pipe is in an unknown state: the pool kills the worker
    except Exception as exc:
        # Pickling fails before anything is written: the worker is untouched.
        return Outcome(Ending.UNUSED, False, exc)
    deadline = time.monotonic() + seconds
    while True:
        ready = handle.wait(deadline - time.monotonic())
        if ready is None:
            if time.monotonic() < deadline:
                continue  # a wait longer than poll() can take
            return Outcome(Ending.TIMEOUT, False, TaskTimeout(seconds, handle.pid))
        if ready is False:
            return Outcome(Ending.DEAD, False, None)
        try:
            msg = channel.recv()
        except (EOFError, OSError):
            return Outcome(Ending.DEAD, False, None)
        except Exception as exc:
            error = PoolError(f"the answer of worker {handle.pid} could not be read: {exc}")
            error.__cause__ = exc
            return Outcome(Ending.KILL, False, error)
        if isinstance(msg, Call):
            serve_call(handle, msg, master_functions)
        elif isinstance(msg, Result) and msg.task_id == task.task_id:
            return Outcome(Ending.IDLE, True, msg.value, msg.rss)
        elif isinstance(msg, Failure) and msg.task_id in (task.task_id, NO_TASK):
            return Outcome(Ending.IDLE, False, msg.error.rebuild(), msg.rss)
        else:
            return Outcome(
                Ending.KILL, False, PoolError(f"protocol error: unexpected {msg!r:.200}")
            )


def serve_call(
    handle: WorkerHandle, call: Call, master_functions: Mapping[str, Callable[..., Any]]
) -> None:
    """Run a master function for the worker, on this thread, and send the answer."""
    channel = handle.channel
    assert channel is not None
    answer: Reply | ReplyError
    function = master_functions.get(call.name)
    if function is None:
        missing = UnknownMasterFunction(call.name, tuple(master_functions))
        answer = ReplyError(call.call_id, ExceptionInfo.capture(missing))
    else:
        _serving.depth += 1
        try:
            answer = Reply(call.call_id, function(*call.args, **call.kwargs))
        except Exception as exc:
            answer = ReplyError(call.call_id, ExceptionInfo.capture(exc))
        finally:
            _serving.depth -= 1
    try:
        channel.send(answer)
    except (OSError, EOFError):
        return  # the worker died: waiting on it will tell
    except Exception as exc:
        error = PoolError(f"the result of master function {call.name!r} could not be sent: {exc}")
        error.__cause__ = exc
        channel.send(ReplyError(call.call_id, ExceptionInfo.capture(error)))
