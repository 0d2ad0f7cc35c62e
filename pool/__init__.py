"""A managed process pool that knows nothing of Orthanc.

Callers run tasks in worker processes with :class:`Pool`; a task calls back
into the master with :func:`call_master`. Each worker has its own pipe, large
buffers cross in shared memory, and a worker that hangs, crashes or grows too
big is replaced. See ``pool.pool`` for the data flow, ``pool.messages`` for
the protocol and ``pool.channel`` for shared memory.
"""

from pool.errors import (
    PoolClosed,
    PoolError,
    PoolFull,
    RemoteError,
    RemoteTraceback,
    TaskTimeout,
    UnknownMasterFunction,
    WorkerCrashed,
    WorkerStartFailed,
)
from pool.pool import Pool
from pool.shm import SHM_THRESHOLD
from pool.worker import call_master, in_task, in_worker

__all__ = [
    "SHM_THRESHOLD",
    "Pool",
    "PoolClosed",
    "PoolError",
    "PoolFull",
    "RemoteError",
    "RemoteTraceback",
    "TaskTimeout",
    "UnknownMasterFunction",
    "WorkerCrashed",
    "WorkerStartFailed",
    "call_master",
    "in_task",
    "in_worker",
]
