"""``wrk``, the HTTP load generator (Debian's package), run against one URL and read back.

wrk is written in C with an event loop: unlike the benchmark's Python clients
it costs the machine little CPU per request, which matters when the server's
work is the pixels and the clients share its two cores.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass
class WrkResult:
    requests: int
    seconds: float       # wrk's own measure of the run
    failed: int          # answers other than 2xx/3xx, and socket errors
    latency_median_s: float
    latency_p99_s: float

    @property
    def per_second(self) -> float:
        return (self.requests - self.failed) / self.seconds if self.seconds else 0.0


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """The figures of wrk's report (run with ``--latency``)."""
    done = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", output)
    if not done:
        raise RuntimeError(f"wrk printed no request count:\n{output[-2000:]}")
    failed = 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        failed += int(bad.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    if errors:
        failed += sum(int(n) for n in errors.groups())
    quantiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.MULTILINE))
    return WrkResult(requests=int(done.group(1)),
                     seconds=_seconds(done.group(2) + done.group(3)),
                     failed=failed,
                     latency_median_s=_seconds(quantiles.get("50", "")),
                     latency_p99_s=_seconds(quantiles.get("99", "")))


def run(url: str, connections: int, seconds: float, timeout: float = 30) -> WrkResult:
    """``connections`` keep-alive connections on ``url`` for ``seconds`` (at most 2 threads)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise FileNotFoundError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    # wrk takes whole seconds.
    command = [binary, f"-t{min(connections, 2)}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               f"--timeout={timeout:g}s", "--latency", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr[-2000:]}")
    return parse(done.stdout)
