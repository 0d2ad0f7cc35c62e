"""Starting a real Orthanc with the plugin: its configuration, its process, its readiness.

Used by ``orthanc-runtime run``, by ``make demo`` and by the integration
tests, so that all three start Orthanc the same way.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any


def orthanc_binary() -> str:
    """The Orthanc executable: ``ORTHANC_BINARY`` if set, else that of Debian's ``orthanc``."""
    chosen = os.environ.get("ORTHANC_BINARY")
    if chosen:
        return chosen
    found = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if not found:
        raise FileNotFoundError("Orthanc is not installed: `apt-get install orthanc` (or `make install`)")
    return found


_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=256)


def free_port() -> int:
    """A loopback port free now, and not one this process handed out lately: the socket is
    closed before the caller binds, so two calls in a row could otherwise get the same
    port (Orthanc's HTTP and DICOM ports, seen once in the tests)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.append(port)
            return port


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: objects merge key by key, anything else replaces."""
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def build_configuration(
    *,
    script: str | os.PathLike[str] | None,
    http_port: int = 8042,
    dicom_port: int = 4242,
    storage: str | os.PathLike[str] = "orthanc-data",
    name: str = "orthanc-runtime",
    extra: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    from orthanc_native import plugin_path

    config: dict[str, Any] = {
        "Name": name,
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "StorageDirectory": str(Path(storage).resolve()),
        "IndexDirectory": str(Path(storage).resolve()),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpDescribeErrors": True,
        "Plugins": [str(plugin_path())],
    }
    if script is not None:
        config["PythonRuntime"] = {"Script": str(Path(script).resolve())}
    for more in extra:
        config = merge(config, more)
    return config


class OrthancProcess:
    """One Orthanc server process, started from a configuration file."""

    def __init__(self, config_path: Path, url: str, log: IO[bytes] | None = None) -> None:
        self.config_path = config_path
        self.url = url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, verbose: bool = False, *, own_session: bool = False) -> None:
        """``own_session``: out of the caller's process group, so that a terminal's Ctrl-C
        reaches only the caller, which then stops Orthanc with one signal (a second one,
        while Orthanc stops, kills it)."""
        args = [orthanc_binary(), str(self.config_path)]
        if verbose:
            args.insert(1, "--verbose")
        self.process = subprocess.Popen(
            args,
            stdout=self.log if self.log is not None else None,
            stderr=subprocess.STDOUT if self.log is not None else None,
            stdin=subprocess.DEVNULL,
            start_new_session=own_session,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Waits for ``/system`` to answer; raises if Orthanc exits or the time runs out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with code {self.process.returncode} while starting")
            try:
                with urllib.request.urlopen(self.url + "/system", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as error:
                if error.code == 401:  # answering, behind its authentication
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"Orthanc did not answer on {self.url} within {timeout} s")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def write_configuration(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path
