"""Errors of the pool, and how an exception crosses between processes.

Every error is a class that carries what the caller needs (the pid and exit
code of a crashed worker, the seconds of a timeout) and pickles with that
data, because these errors travel too: a master function that runs a task of
its own may raise :class:`TaskTimeout` back into the worker that called it.

An exception raised on the other side comes back as the same type when it
survives a pickle round trip, else as :class:`RemoteError`; either way the
other side's formatted traceback is attached as ``__cause__``, a
:class:`RemoteTraceback`, as ``concurrent.futures`` does.
"""

from __future__ import annotations

import pickle
import signal
import traceback
from typing import Any, NamedTuple


class PoolError(Exception):
    """Base class of the errors the pool raises itself."""


class PoolFull(PoolError):
    """``queue_limit`` callers already wait for a worker; retry later."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} callers already wait for a worker (queue_limit={limit})")
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.limit,))


class PoolClosed(PoolError):
    """The pool is shut down (or shutting down) and takes no more tasks.

    ``may_have_run`` is False when the task never reached a worker (refused,
    or still waiting in line): the caller may run it elsewhere, say in the
    pool that replaced this one, without running it twice.
    """

    def __init__(self, message: str, *, may_have_run: bool = True) -> None:
        super().__init__(message)
        self.may_have_run = may_have_run

    def __reduce__(self) -> tuple[Any, ...]:
        return (_pool_closed, (str(self), self.may_have_run))


def _pool_closed(message: str, may_have_run: bool) -> PoolClosed:
    return PoolClosed(message, may_have_run=may_have_run)


class TaskTimeout(PoolError):
    """The task did not finish in ``seconds``; its worker was killed and replaced."""

    def __init__(self, seconds: float, pid: int | None = None) -> None:
        where = f" (worker {pid} was killed)" if pid is not None else ""
        super().__init__(f"task did not finish within {seconds:g} s{where}")
        self.seconds = seconds
        self.pid = pid

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.seconds, self.pid))


def describe_exitcode(exitcode: int | None) -> str:
    """``-9`` -> ``"was killed by SIGKILL"``, ``3`` -> ``"exited with code 3"``."""
    if exitcode is None:
        return "died (exit code unknown)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with code {exitcode}"


class WorkerCrashed(PoolError):
    """The worker died while running the task.

    ``exitcode`` follows ``multiprocessing.Process.exitcode``: negative is the
    number of the signal that killed it.
    """

    def __init__(
        self, pid: int, exitcode: int | None, detail: str = "while running the task"
    ) -> None:
        super().__init__(f"worker {pid} {describe_exitcode(exitcode)} {detail}".rstrip())
        self.pid = pid
        self.exitcode = exitcode
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.pid, self.exitcode, self.detail))


class WorkerStartFailed(PoolError):
    """A worker could not be started: its initializer raised, or it died on the way.

    The initializer's own exception, when there is one, is ``__cause__``.
    """

    def __init__(self, pid: int | None, exitcode: int | None, reason: str) -> None:
        super().__init__(f"worker {pid} failed to start: {reason}" if pid is not None
                         else f"no worker could start: {reason}")
        self.pid = pid
        self.exitcode = exitcode
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.pid, self.exitcode, self.reason))


class UnknownMasterFunction(PoolError, LookupError):
    """A worker called ``call_master(name)`` with a name the pool was not given."""

    def __init__(self, name: str, known: tuple[str, ...] = ()) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no master function named {name!r}; the pool's master_functions are: {listed}"
        )
        self.name = name
        self.known = known

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.known))


class RemoteError(Exception):
    """Stands in for an exception of the other process that could not be pickled."""

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback = traceback_text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message, self.traceback))


class RemoteTraceback(Exception):
    """The other process's formatted traceback, chained as ``__cause__``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


class ExceptionInfo(NamedTuple):
    """An exception packed to cross the pipe: its pickle if it survives one, and its text."""

    pickled: bytes | None
    type_name: str
    message: str
    traceback: str

    @classmethod
    def capture(cls, exc: BaseException) -> ExceptionInfo:
        text = "".join(traceback.format_exception(exc))
        # The round trip, not only the dump, must succeed: an exception whose
        # __init__ needs other arguments than its args pickles but fails to load.
        pickled: bytes | None
        try:
            pickled = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(pickled)
        except Exception:
            pickled = None
        try:
            message = str(exc)
        except Exception:
            message = f"<{type(exc).__name__}: str() failed>"
        return cls(pickled, _qualified_name(type(exc)), message, text)

    def rebuild(self) -> BaseException:
        exc: BaseException | None = None
        if self.pickled is not None:
            try:
                exc = pickle.loads(self.pickled)
            except Exception:
                exc = None
        if not isinstance(exc, BaseException):
            exc = RemoteError(self.type_name, self.message, self.traceback)
        exc.__cause__ = RemoteTraceback(f'\n"""\n{self.traceback}"""')
        return exc


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
