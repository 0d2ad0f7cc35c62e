"""HTTP clients on loopback: one keep-alive connection, concurrent bursts, closed loops.

Threads serve where the client waits far longer than it computes (CPU-bound
routes, bursts, one-client latency). Throughput with many clients uses one
process per client (``closed_loop_processes``): with threads, the benchmark's
own GIL would cap the request rate and hide differences between servers.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

# What a server may do to a kept-alive connection between two requests.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
         http.client.CannotSendRequest)


class Reply(NamedTuple):
    status: int
    seconds: float
    headers: dict[str, str]
    body: bytes


class Client:
    """One keep-alive connection; ``get`` times a request from sending to the last body byte."""

    def __init__(self, port: int, timeout: float = 120) -> None:
        self.port = port
        self.timeout = timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def connect(self) -> None:
        self.connection.connect()

    def get(self, path: str) -> Reply:
        try:
            return self._get(path)
        except STALE:
            # The server closed the idle connection: the retry is what gets timed.
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                         timeout=self.timeout)
            return self._get(path)

    def _get(self, path: str) -> Reply:
        started = time.perf_counter()
        self.connection.request("GET", path)
        answer = self.connection.getresponse()
        body = answer.read()
        seconds = time.perf_counter() - started
        headers = {k.lower(): v for k, v in answer.getheaders()}
        return Reply(answer.status, seconds, headers, body)

    def close(self) -> None:
        self.connection.close()


@dataclass
class Outcome:
    """What one client of a burst got: a reply, or the exception it met."""

    reply: Reply | None = None
    error: str = ""
    started: float = 0.0
    ended: float = 0.0


def burst(port: int, path: str, clients: int, timeout: float = 120) -> tuple[float, list[Outcome]]:
    """``clients`` threads, each on a connection opened beforehand, send one GET at once.

    Answers the wall time, from the first request sent to the last answer read,
    and each client's outcome.
    """
    outcomes = [Outcome() for _ in range(clients)]
    connections = [Client(port, timeout) for _ in range(clients)]
    for client in connections:
        client.connect()
    gate = threading.Barrier(clients)

    def one(index: int) -> None:
        outcome = outcomes[index]
        gate.wait()
        outcome.started = time.perf_counter()
        try:
            outcome.reply = connections[index].get(path)
        except Exception as error:  # reported, not raised: a burst counts its failures
            outcome.error = f"{type(error).__name__}: {error}"
        outcome.ended = time.perf_counter()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in connections:
        client.close()
    wall = max(o.ended for o in outcomes) - min(o.started for o in outcomes)
    return wall, outcomes


@dataclass
class LoopResult:
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


def _closed_loop(args: tuple[int, str, float, float]) -> LoopResult:
    """One client: requests back to back on one connection from ``start`` to ``end``.

    ``start`` and ``end`` are time.monotonic() values, the same clock in every
    process; a request still running at ``end`` is not counted.
    """
    port, path, start, end = args
    result = LoopResult()
    client = Client(port, timeout=30)
    client.connect()
    while time.monotonic() < start:
        time.sleep(0.001)
    while True:
        try:
            reply = client.get(path)
        except Exception:
            result.errors += 1
            client.close()
            client = Client(port, timeout=30)
            continue
        if time.monotonic() > end:
            break
        if reply.status == 200:
            result.requests += 1
            result.latencies.append(reply.seconds)
        else:
            result.errors += 1
    client.close()
    return result


class ClientProcesses:
    """A set of client processes, started once and reused for every closed-loop run."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        # spawn: the benchmark process has threads (the slow peer), never fork it.
        self._pool = multiprocessing.get_context("spawn").Pool(clients)

    def closed_loop(self, port: int, path: str, seconds: float,
                    lead: float = 0.3) -> list[LoopResult]:
        """Every client runs requests on ``path`` for ``seconds``, starting together."""
        start = time.monotonic() + lead
        jobs: Sequence[tuple[int, str, float, float]] = [
            (port, path, start, start + seconds)] * self.clients
        return self._pool.map(_closed_loop, jobs, chunksize=1)

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> ClientProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
