"""The floor under @offload's added latency: one round trip between two Python processes.

A child process echoes what it receives on a multiprocessing Pipe, the kind
of pipe the pool talks to its workers over; a round trip is one message there
and one back, with the two wake-ups it takes, and none of the runtime's work.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection

PAYLOAD = b"x" * 300  # about the size of a pickled trivial task


def _echo(connection: Connection) -> None:
    while True:
        message = connection.recv_bytes()
        if not message:
            return
        connection.send_bytes(message)


class PipeEcho:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_echo, args=(child,), name="pipe-echo",
                                        daemon=True)
        self._process.start()
        child.close()

    def round_trip(self, payload: bytes = PAYLOAD) -> float:
        started = time.perf_counter()
        self._connection.send_bytes(payload)
        self._connection.recv_bytes()
        return time.perf_counter() - started

    def close(self) -> None:
        self._connection.send_bytes(b"")
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()

    def __enter__(self) -> PipeEcho:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
