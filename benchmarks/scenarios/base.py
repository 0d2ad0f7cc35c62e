"""What scenarios share: the run's settings, the running servers, and the shape of a result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..servers import Server
from ..slow_peer import SlowPeer

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """How long each scenario measures: the full run, or the smoke test's quick one."""

    name: str
    cpu_seconds: float        # P1: one request of the CPU-bound route, about
    cpu_repetitions: int
    latency_pairs: int        # P2: requests per route, interleaved
    throughput_seconds: float  # P3: one closed-loop run
    throughput_rounds: int
    dicom_pairs: int          # P4
    hol_rounds: int           # P5
    hol_idle_requests: int
    hol_loaded_seconds: float
    startup_repetitions: int  # P6
    overload_rounds: int      # P7
    workload_seconds: float   # P8: one wrk run
    workload_rounds: int      # P8: rounds on the 2048 x 2048 radiograph (the other images: one)
    workload_connections: tuple[int, ...]
    workload_images: tuple[str, ...]  # names in benchmarks.images.IMAGES
    dump_megabytes: int       # P9: the instance's size
    routing_studies: int      # P10: studies a round, each of routing_instances slices
    routing_instances: int
    stored_instances: int     # P12: instances uploaded a round
    stored_rounds: int
    body_pairs: tuple[int, int, int]  # P13: requests a route for 1 kB, 1 MB, 32 MB bodies


FULL = Settings("full", cpu_seconds=0.3, cpu_repetitions=11, latency_pairs=5000,
                throughput_seconds=3.0, throughput_rounds=5, dicom_pairs=25, hol_rounds=3,
                hol_idle_requests=300, hol_loaded_seconds=4.0, startup_repetitions=6,
                overload_rounds=3, workload_seconds=5.0, workload_rounds=3,
                workload_connections=(1, 4),
                workload_images=("radiograph", "ct", "ultrasound", "multiframe"),
                dump_megabytes=32, routing_studies=20, routing_instances=4,
                stored_instances=1000, stored_rounds=3, body_pairs=(1000, 200, 25))
QUICK = Settings("quick", cpu_seconds=0.05, cpu_repetitions=1, latency_pairs=100,
                 throughput_seconds=0.5, throughput_rounds=1, dicom_pairs=2, hol_rounds=1,
                 hol_idle_requests=20, hol_loaded_seconds=1.2, startup_repetitions=1,
                 overload_rounds=1, workload_seconds=1.0, workload_rounds=1,
                 workload_connections=(4,), workload_images=("ct",),
                 dump_megabytes=2, routing_studies=2, routing_instances=2,
                 stored_instances=40, stored_rounds=1, body_pairs=(20, 5, 2))


@dataclass
class Context:
    settings: Settings
    cores: int
    workdir: Path
    servers: dict[str, Server]  # "official", "official_pool", "ours"
    peer: SlowPeer
    outer: int  # the CPU loop's outer count for about settings.cpu_seconds


@dataclass
class Result:
    id: str
    title: str
    target: str
    verdict: str = "reported"  # "met", "not met", "reported" (no target), "error"
    judged: str = ""           # the figure the verdict is about
    rows: list[tuple[str, str]] = field(default_factory=list)  # (configuration, figures)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` starting at ``shift``: each repetition starts with another configuration."""
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def expect_ok(status: int, what: str, body: bytes = b"") -> None:
    if status != 200:
        raise RuntimeError(f"{what} answered {status}: {body[:300]!r}")
