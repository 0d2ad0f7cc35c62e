"""The Orthanc configurations the benchmark compares, each a real Orthanc on loopback ports.

    ours(...)      our plugin (libOrthancRuntime) with a "PythonRuntime" section
    official(...)  Debian's orthanc-python, the official plugin, with "PythonScript"
    bare(...)      no plugin at all (the reference of the start-up scenario)

One Orthanc never loads both plugins. Configurations are built with
runtime.devkit.launcher, as ``orthanc-runtime run`` and the integration tests build
theirs; the process is started without --verbose so that logging costs the
same in every configuration.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from runtime.devkit.launcher import (
    OrthancProcess,
    build_configuration,
    free_port,
    write_configuration,
)

SCRIPTS = Path(__file__).parent / "scripts"
OFFICIAL_PACKAGE = "orthanc-python"

# The same for every configuration, so that only the plugin differs.
COMMON: dict[str, Any] = {"KeepAlive": True, "TcpNoDelay": True}


def official_plugin() -> Path:
    """The official plugin's library, as installed by Debian's ``orthanc-python``."""
    listing = subprocess.run(["dpkg", "-L", OFFICIAL_PACKAGE], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        path = Path(line.strip())
        if "/plugins/" in line and path.suffix == ".so" and path.exists():
            return path
    raise FileNotFoundError(
        f"the official Python plugin is not installed: `apt-get install -y {OFFICIAL_PACKAGE}` "
        "(make bench does it)"
    )


def official_plugin_version() -> str:
    answer = subprocess.run(["dpkg-query", "-W", "-f=${Version}", OFFICIAL_PACKAGE],
                            capture_output=True, text=True)
    return answer.stdout.strip() or "not installed"


@dataclass
class Server:
    """One Orthanc process, its port, its folder and its log."""

    name: str
    folder: Path
    config: dict[str, Any]
    port: int
    log_path: Path
    process: OrthancProcess | None = None
    launched_at: float = 0.0
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config_path = write_configuration(self.folder / "orthanc.json", self.config)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed by stop())
        self.process = OrthancProcess(config_path, self.url, log=self._log)
        self.launched_at = time.monotonic()
        self.process.start(verbose=False)

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        try:
            self.process.wait_ready(timeout)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{self.name}: {error}\n{self.log_tail()}") from None

    def get_json(self, path: str, timeout: float = 10) -> Any:
        import json

        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return json.loads(answer.read())

    def get_text(self, path: str, timeout: float = 10) -> str:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return str(answer.read().decode())

    def poll_until(self, path: str, ready: Any, timeout: float = 60, every: float = 0.005) -> float:
        """Polls ``path`` until ``ready(json)``; the seconds since the launch."""
        assert self.process is not None and self.process.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited while starting\n{self.log_tail()}")
            try:
                if ready(self.get_json(path, timeout=2)):
                    return time.monotonic() - self.launched_at
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
                pass
            time.sleep(every)
        raise TimeoutError(f"{self.name}: {path} not ready within {timeout} s\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by Orthanc and its live child processes."""
        assert self.process is not None and self.process.process is not None
        total = 0.0
        try:
            orthanc = psutil.Process(self.process.process.pid)
            for process in [orthanc, *orthanc.children(recursive=True)]:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        return total

    def cpu_split(self) -> tuple[float, float]:
        """CPU time so far of Orthanc's own process (the master) and of its live children.

        A child that has exited takes its time with it: take the difference
        over a run during which the workers stay up.
        """
        assert self.process is not None and self.process.process is not None
        try:
            orthanc = psutil.Process(self.process.process.pid)
            times = orthanc.cpu_times()
            master = times.user + times.system
            children = 0.0
            for child in orthanc.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                    children += child_times.user + child_times.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            return 0.0, 0.0
        return master, children

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (SIGKILL after ``timeout``); then ends what is left of its children."""
        if self.process is None or self.process.process is None:
            return
        try:
            children = psutil.Process(self.process.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.process.stop(timeout)
        for child in children:
            try:
                child.wait(2)
            except psutil.TimeoutExpired:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def _server(name: str, folder: Path, configuration: dict[str, Any], port: int) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    return Server(name, folder, configuration, port, folder / "orthanc.log")


def _base(name: str, folder: Path, script: Path | None,
          extra: Mapping[str, Any] | None) -> tuple[dict[str, Any], int]:
    port = free_port()
    storage = folder / "storage"
    configuration = build_configuration(
        script=script, http_port=port, dicom_port=free_port(), storage=storage,
        name=name, extra=[COMMON, dict(extra or {})])
    return configuration, port


def ours(name: str, folder: Path, script: Path, extra: Mapping[str, Any] | None = None) -> Server:
    """An Orthanc with our plugin and ``script`` (its "PythonRuntime" section merged from ``extra``)."""
    configuration, port = _base(name, folder, script, extra)
    return _server(name, folder, configuration, port)


def official(name: str, folder: Path, script: Path, extra: Mapping[str, Any] | None = None) -> Server:
    """An Orthanc with the official plugin alone and ``script`` as its "PythonScript"."""
    configuration, port = _base(name, folder, None, extra)
    configuration["Plugins"] = [str(official_plugin())]
    configuration["PythonScript"] = str(script.resolve())
    return _server(name, folder, configuration, port)


def bare(name: str, folder: Path, extra: Mapping[str, Any] | None = None) -> Server:
    """An Orthanc without any plugin."""
    configuration, port = _base(name, folder, None, extra)
    configuration["Plugins"] = []
    return _server(name, folder, configuration, port)
