"""Two builds of orthanc-runtime side by side: is a change slower than what it replaced?

    .venv/bin/python -m benchmarks.compare_builds --base /path/to/other/checkout

The other checkout must have run ``make install`` (its ``.venv`` holds its
plugin, which embeds that venv's Python and imports that checkout's runtime).
Two Orthancs start with the same script (scripts/ours.py of this checkout,
which uses only the public API) and differ only in the plugin; every figure is
a median of repetitions interleaved between the two, and the table gives
this build / the base build:

    latency    one keep-alive connection, a trivial route inline and offloaded,
               the servers and routes alternated request by request
    throughput wrk with 8 connections for a few seconds, rounds rotated
    32 MB      GetDicomForInstance of a 32 MB instance from an offloaded handler
    16 MB      an offloaded route answering 16 MB (the body's way back)

Two servers of the very same build differ by up to a fifth in latency within one
session (which cores their threads land on), so a session is repeated with
fresh servers, started in turn in either order, and the table gives the median
of the sessions' ratios with their range.

The results go to results/<date>_<time>_builds.md with the machine's description.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from . import big_instance, machine, servers, wrk
from .load import Client
from .stats import median, quantile

RESULTS = Path(__file__).parent / "results"
SCRIPT = servers.SCRIPTS / "ours.py"
POOL = {"Pool": {"Workers": 2}}


def plugin_of(checkout: Path) -> Path:
    found = sorted(checkout.glob(".venv/lib/python*/site-packages/orthanc_native/libOrthancRuntime.so"))
    if not found:
        raise SystemExit(f"no built plugin in {checkout}/.venv: run `make install` there first")
    return found[0]


def start(name: str, folder: Path, plugin: Path) -> servers.Server:
    server = servers.ours(name, folder / name, SCRIPT, POOL)
    server.config["Plugins"] = [str(plugin)]
    server.start()
    server.wait_ready()
    server.poll_until("/runtime/status", lambda s: s["pool"]["workers"]["idle"] >= 2)
    return server


def latency(ports: dict[str, int], pairs: int) -> dict[str, dict[str, float]]:
    routes = {"inline": "/bench/trivial", "offloaded": "/bench/trivial-offload"}
    clients = {name: Client(port) for name, port in ports.items()}
    samples: dict[tuple[str, str], list[float]] = {(b, r): [] for b in ports for r in routes}
    keys = list(samples)
    for key in keys * 50:  # warm-up
        clients[key[0]].get(routes[key[1]])
    order = random.Random(25)
    for _ in range(pairs):
        order.shuffle(keys)
        for build, route in keys:
            reply = clients[build].get(routes[route])
            if reply.status != 200:
                raise RuntimeError(f"{build} {route}: {reply.status} {reply.body[:200]!r}")
            samples[(build, route)].append(reply.seconds)
    return {f"{route} p50 µs": {b: median(samples[(b, route)]) * 1e6 for b in ports}
            for route in routes} | {
        f"{route} p99 µs": {b: quantile(samples[(b, route)], 0.99) * 1e6 for b in ports}
        for route in routes}


def throughput(ports: dict[str, int], seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    routes = {"inline": "/bench/trivial", "offloaded": "/bench/trivial-offload"}
    runs: dict[tuple[str, str], list[float]] = {(b, r): [] for b in ports for r in routes}
    keys = list(runs)
    for index in range(rounds):
        for build, route in keys[index % len(keys):] + keys[:index % len(keys)]:
            result = wrk.run(f"http://127.0.0.1:{ports[build]}{routes[route]}", 8, seconds)
            if result.failed:
                raise RuntimeError(f"{build} {route}: {result.failed} failed answers under wrk")
            runs[(build, route)].append(result.per_second)
    return {f"{route} req/s, 8 connections": {b: median(runs[(b, route)]) for b in ports}
            for route in routes}


def large(ports: dict[str, int], instance: str, repetitions: int) -> dict[str, dict[str, float]]:
    clients = {name: Client(port) for name, port in ports.items()}
    inside: dict[str, list[float]] = {b: [] for b in ports}
    dicom: dict[str, list[float]] = {b: [] for b in ports}
    body: dict[str, list[float]] = {b: [] for b in ports}
    builds = list(ports)
    order = random.Random(32)
    for _ in range(repetitions):
        order.shuffle(builds)
        for build in builds:
            reply = clients[build].get(f"/bench/dicom-offload/{instance}")
            inside[build].append(json.loads(reply.body)["seconds"])
            dicom[build].append(reply.seconds)
            reply = clients[build].get("/bench/body-offload?mb=16")
            if reply.status != 200 or len(reply.body) != 16 * 1024 * 1024:
                raise RuntimeError(f"{build}: 16 MB answer {reply.status}, {len(reply.body)} bytes")
            body[build].append(reply.seconds)
    return {"32 MB GetDicomForInstance in a worker, ms": {b: median(inside[b]) * 1e3 for b in ports},
            "32 MB request, whole, ms": {b: median(dicom[b]) * 1e3 for b in ports},
            "16 MB offloaded answer, ms": {b: median(body[b]) * 1e3 for b in ports}}


def session(plugins: dict[str, Path], order: list[str], arguments: argparse.Namespace,
            big: Path, folder: Path) -> dict[str, dict[str, float]]:
    """One session: both servers started fresh (in ``order``), every figure measured."""
    running: dict[str, servers.Server] = {}
    try:
        for name in order:
            running[name] = start(name, folder, plugins[name])
        ids = {name: _upload(server.port, big) for name, server in running.items()}
        ports = {name: running[name].port for name in plugins}
        return {**latency(ports, arguments.pairs),
                **throughput(ports, arguments.seconds, arguments.rounds),
                **large(ports, ids["this"], arguments.large)}
    finally:
        for server in running.values():
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_builds")
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (built)")
    parser.add_argument("--sessions", type=int, default=4, help="sessions with fresh servers")
    parser.add_argument("--pairs", type=int, default=2000, help="latency requests per route")
    parser.add_argument("--seconds", type=float, default=3, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per build and route")
    parser.add_argument("--large", type=int, default=8, help="32 MB and 16 MB repetitions")
    arguments = parser.parse_args()
    checkout = Path(__file__).resolve().parents[1]
    plugins = {"this": plugin_of(checkout), "base": plugin_of(arguments.base.resolve())}
    started = time.strftime("%Y-%m-%d_%H%M")
    sessions: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="compare-builds-") as temporary:
        folder = Path(temporary)
        big = big_instance.write(folder / "big.dcm")
        for index in range(arguments.sessions):
            order = ["this", "base"] if index % 2 == 0 else ["base", "this"]
            sessions.append(session(plugins, order, arguments, big, folder / str(index)))
    described = machine.describe()
    lines = [f"# This build / the base build ({started})", "",
             f"base: `{arguments.base}`; {machine.summary_line(described)}", "",
             f"{arguments.sessions} sessions with fresh servers; in each, the medians of "
             "interleaved repetitions; below, the median of the sessions and the range of "
             "their ratios.", "",
             "| figure | this | base | this / base | ratios' range |", "| --- | --- | --- | --- | --- |"]
    for figure in sessions[0]:
        ratios = sorted(s[figure]["this"] / s[figure]["base"] for s in sessions)
        this = median([s[figure]["this"] for s in sessions])
        base = median([s[figure]["base"] for s in sessions])
        lines.append(f"| {figure} | {this:.1f} | {base:.1f} | {median(ratios):.2f} | "
                     f"{ratios[0]:.2f}-{ratios[-1]:.2f} |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{started}_builds.md").write_text(text)
    print(text)


def _upload(port: int, path: Path) -> str:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/instances", data=path.read_bytes(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        return str(json.loads(answer.read())["ID"])


if __name__ == "__main__":
    main()
