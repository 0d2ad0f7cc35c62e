"""HTTP clients on loopback: one keep-alive connection, concurrent bursts.

Threads serve where the client waits far longer than it computes (CPU-bound
routes, bursts, one-client latency). Throughput is driven by ``wrk``
(benchmarks/wrk.py): with Python clients, the benchmark's own cost per
request would cap the rate and hide differences between servers.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
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
