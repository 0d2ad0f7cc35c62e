"""P13: how the cost of @offload grows with the body's size and with the pool's workers.

Overhead by size: one client on keep-alive connections, an echo-like route
inline and under @offload (``scripts/ours.py``), for bodies of 1 kB, 1 MB and
32 MB in both directions: the answer (``GET /bench/body?bytes=N``, the handler
answers N bytes) and the request (``POST /bench/upload`` with N bytes, the
handler answers their count). Past ``Pool.SharedMemoryThreshold`` a body
travels between the master and a worker in shared memory. Every request of a
repetition (each direction, inline and offloaded, on the fast path and with
``Pool.FastPath`` false) is sent in a random order; the overhead is the
difference of the medians, offloaded minus inline, on the same server.

Workers: a trivial offloaded route under ``wrk`` with 8 connections on two
servers started for it, ``Pool.Workers`` 1 and 2, rounds rotated.

With ``ORTHANC_BENCH_BASE`` naming another built checkout (c184b30, issue 26's
baseline), the same figures are measured on its plugin in the same rounds
(its servers loaded with this checkout's ``scripts/ours.py``; it has no
FastPath setting), and the verdict says whether any of this build's figures
regresses against it: an overhead more than 10% and 20 µs above the base's, a
rate below 0.9x the base's. Without it, the figures are reported.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import time
from pathlib import Path
from typing import Any

from .. import servers, workload
from ..load import STALE
from ..stats import median, ratio
from ..workload import Runs
from .base import Context, Result, ms, rotated, verdict

ID = "P13"
TITLE = "how @offload's cost grows: bodies of 1 kB, 1 MB, 32 MB; Pool.Workers 1 and 2"
TARGET = ("reported; with ORTHANC_BENCH_BASE (c184b30): no regression (overhead <= 1.1x base "
          "or within 20 µs; rate >= 0.9x base)")
SIZES = {"1 kB": 1024, "1 MB": 1 << 20, "32 MB": 32 << 20}
DIRECTIONS = ("answer", "request")
CONNECTIONS = 8
BASE_VARIABLE = "ORTHANC_BENCH_BASE"


class Connection:
    """One keep-alive connection that times a GET or a POST to its last body byte."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def send(self, method: str, path: str, body: bytes | None) -> float:
        try:
            return self._send(method, path, body)
        except STALE:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            return self._send(method, path, body)

    def _send(self, method: str, path: str, body: bytes | None) -> float:
        started = time.perf_counter()
        self.connection.request(method, path, body=body,
                                headers={"Content-Type": "application/octet-stream"})
        answer = self.connection.getresponse()
        data = answer.read()
        seconds = time.perf_counter() - started
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:200]!r}")
        return seconds

    def close(self) -> None:
        self.connection.close()


def _request(direction: str, offloaded: bool, size: int, payload: bytes) -> tuple[str, str,
                                                                                  bytes | None]:
    suffix = "-offload" if offloaded else ""
    if direction == "answer":
        return "GET", f"/bench/body{suffix}?bytes={size}", None
    return "POST", f"/bench/upload{suffix}", payload


def _base_plugin() -> Path | None:
    folder = os.environ.get(BASE_VARIABLE, "")
    if not folder:
        return None
    found = sorted(Path(folder).glob(
        ".venv/lib/python*/site-packages/orthanc_native/libOrthancRuntime.so"))
    if not found:
        raise RuntimeError(f"{BASE_VARIABLE}={folder}: no built plugin in its .venv")
    return found[0]


def _server(name: str, folder: Path, workers: int, plugin: Path | None) -> servers.Server:
    server = servers.ours(name, folder / name, servers.SCRIPTS / "ours.py",
                          {"PythonRuntime": {"Pool": {"Workers": workers}}})
    if plugin is not None:
        server.config["Plugins"] = [str(plugin)]
    return server


def _overheads(ports: dict[str, int], pairs: tuple[int, ...]) -> dict[str, Any]:
    """Per size, build and direction: the medians inline and offloaded, and their difference."""
    connections = {build: Connection(port) for build, port in ports.items()}
    figures: dict[str, Any] = {}
    order = random.Random(13)
    for (label, size), repetitions in zip(SIZES.items(), pairs, strict=True):
        payload = os.urandom(size)
        keys = [(build, direction, offloaded) for build in ports for direction in DIRECTIONS
                for offloaded in (False, True)]
        samples: dict[tuple[str, str, bool], list[float]] = {key: [] for key in keys}
        for key in keys * 2:  # warm-up: the shared-memory buffers of this size
            connections[key[0]].send(*_request(key[1], key[2], size, payload))
        for _ in range(repetitions):
            order.shuffle(keys)
            for build, direction, offloaded in keys:
                samples[(build, direction, offloaded)].append(
                    connections[build].send(*_request(direction, offloaded, size, payload)))
        for build in ports:
            for direction in DIRECTIONS:
                inline = median(samples[(build, direction, False)])
                offloaded_ = median(samples[(build, direction, True)])
                figures[f"{label} {direction} / {build}"] = {
                    "inline_median_s": inline, "offloaded_median_s": offloaded_,
                    "overhead_s": offloaded_ - inline, "repetitions": repetitions}
    for connection in connections.values():
        connection.close()
    return figures


def _duration(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if abs(seconds) < 1e-3 else ms(seconds)


def _signed(seconds: float) -> str:
    return ("+" if seconds >= 0 else "-") + _duration(abs(seconds))


def run(context: Context) -> Result:
    settings = context.settings
    base = _base_plugin()
    builds = {"fast path": context.servers["ours"].port,
              "FastPath false": context.servers["ours_python"].port}
    rate_runs: dict[str, Runs] = {}
    with contextlib.ExitStack() as stack:
        started: dict[str, servers.Server] = {}
        folder = context.workdir / "growth"
        plans: list[tuple[str, int, Path | None]] = [(f"this, Workers {n}", n, None)
                                                     for n in (1, 2)]
        if base is not None:
            plans += [(f"base, Workers {n}", n, base) for n in (1, 2)]
        for name, workers, plugin in plans:
            server = _server(name.replace(", ", "-").replace(" ", ""), folder, workers, plugin)
            stack.callback(server.stop)
            server.start()
            started[name] = server
        for name, workers, _ in plans:
            started[name].wait_ready()
            started[name].poll_until("/runtime/status",
                                     lambda s, n=workers: s["pool"]["workers"]["idle"] >= n)
        if base is not None:
            builds["base"] = started["base, Workers 2"].port
        overheads = _overheads(builds, settings.body_pairs)

        seconds = max(1.0, settings.throughput_seconds)
        names = [name for name, _, _ in plans]
        for name in names:  # warm-up
            workload.measure(started[name], "/bench/trivial-offload", CONNECTIONS, 1.0, Runs())
        for round_ in range(settings.throughput_rounds):
            for name in rotated(names, round_):
                workload.measure(started[name], "/bench/trivial-offload", CONNECTIONS, seconds,
                                 rate_runs.setdefault(name, Runs()))

    result = Result(ID, TITLE, TARGET)
    result.data["overheads"] = overheads
    for label in SIZES:
        for direction in DIRECTIONS:
            cells = []
            for build in builds:
                figure = overheads[f"{label} {direction} / {build}"]
                cells.append(f"{build}: {_signed(figure['overhead_s'])} "
                             f"({_duration(figure['inline_median_s'])} inline)")
            result.rows.append((f"{label} {direction}, @offload adds (inline p50 beside)",
                                "; ".join(cells)))
    rates: dict[str, dict[str, Any]] = {}
    for name in names:
        runs = rate_runs[name]
        rates[name] = runs.figures(runs)
        rates[name]["server_cpu_s"] = rates[name]["master_cpu_s"] + rates[name]["worker_cpu_s"]
    result.data["rates"] = rates
    for name in names:
        figures = rates[name]
        result.rows.append((f"trivial @offload, 8 conn., {name}",
                            f"{figures['per_s']:.0f} req/s; server CPU "
                            f"{figures['server_cpu_s'] * 1e6:.0f} µs a request (workers "
                            f"{figures['worker_cpu_s'] * 1e6:.0f} µs)"
                            + (f"; {figures['failed']} failed" if figures["failed"] else "")))
    two_to_one = ratio(rates["this, Workers 2"]["per_s"], rates["this, Workers 1"]["per_s"])
    result.data["workers_2_to_1"] = two_to_one
    big = overheads["32 MB answer / fast path"]["overhead_s"]
    summary = (f"@offload adds {_signed(overheads['1 kB answer / fast path']['overhead_s'])} "
               f"(1 kB), {_signed(overheads['1 MB answer / fast path']['overhead_s'])} (1 MB), "
               f"{_signed(big)} (32 MB) to an answer, "
               f"{_signed(overheads['32 MB request / fast path']['overhead_s'])} to a 32 MB "
               f"request; Workers 2 / 1: {two_to_one:.2f}x")
    if base is None:
        result.judged = summary
        return result
    regressions = []
    for label in SIZES:
        for direction in DIRECTIONS:
            this = overheads[f"{label} {direction} / fast path"]["overhead_s"]
            then = overheads[f"{label} {direction} / base"]["overhead_s"]
            if this > then * 1.1 and this - then > 20e-6:
                regressions.append(f"{label} {direction} {_signed(this)} vs {_signed(then)}")
    for workers in (1, 2):
        this_rate = rates[f"this, Workers {workers}"]["per_s"]
        then_rate = rates[f"base, Workers {workers}"]["per_s"]
        result.data[f"workers_{workers}_to_base"] = ratio(this_rate, then_rate)
        if this_rate < 0.9 * then_rate:
            regressions.append(f"Workers {workers} {this_rate:.0f} vs {then_rate:.0f} req/s")
    result.data["regressions"] = regressions
    result.verdict = verdict(not regressions)
    result.judged = summary + ("; against the base: " + ("; ".join(regressions) if regressions
                                                          else "no regression"))
    return result
