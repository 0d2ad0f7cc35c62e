"""Starting a real Orthanc with the plugin: its configuration, its process, its readiness.

Used by ``orthanc-runtime run``, by ``make demo`` and by the integration
tests, so that all three start Orthanc the same way.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
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
    """A loopback port free now, and not one this process handed out lately (the socket is
    closed before the caller binds, so two calls in a row could otherwise get the same port:
    Orthanc's HTTP and DICOM ports, seen once in the tests).

    It is taken below the range the kernel hands out by itself: a process that binds port 0
    meanwhile (a Dask worker, seen once taking the HTTP port chosen for Orthanc) or an
    outgoing connection never gets it before the caller binds it."""
    low = _kernel_range_start()
    for _ in range(2000):
        port = _RANDOM.randrange(_LOWEST, low) if low > _LOWEST + 1000 else _kernel_port()
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.append(port)
            return port
    raise OSError("no free loopback port found")


_LOWEST = 20000
_RANDOM = random.SystemRandom()


def _kernel_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _kernel_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int, *, reuse: bool = False) -> bool:
    """Free on loopback and on every interface (Orthanc's DICOM server listens on all).

    ``reuse``: bound as Orthanc's servers bind (SO_REUSEADDR), so that the connections a
    stopped server left in TIME_WAIT do not count, only a socket that holds the port."""
    for host in ("127.0.0.1", ""):
        with socket.socket() as s:
            if reuse:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def port_taken(port: int) -> bool:
    """Whether a server given this TCP port could not listen on it now."""
    return not _bindable(port, reuse=True)


def port_holder(port: int) -> str:
    """Who holds a TCP port, as far as this user may see: "Orthanc (pid 812, user
    orthanc)"; a socket of another user's process shows no pid unless run as root."""
    import psutil

    try:
        sockets = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        sockets = []
    held = [s for s in sockets if s.laddr and s.laddr.port == port and not s.raddr]
    for pid in sorted({s.pid for s in held if s.pid is not None}):
        try:
            process = psutil.Process(pid)
            return f"{process.name()} (pid {pid}, user {process.username()})"
        except psutil.Error:
            return f"pid {pid}"
    who = "another user's process" if held else "a process this user cannot see"
    return f"{who} (`sudo ss -ltnp 'sport = :{port}'` names it)"


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
            except http.client.HTTPException as error:  # something that is no HTTP server
                if self.process.poll() is not None:
                    continue  # Orthanc exited: said above, with its code
                port = urllib.parse.urlsplit(self.url).port
                raise RuntimeError(f"{self.url} answers, but not as an HTTP server ("
                                   f"{type(error).__name__}): the port Orthanc was given is "
                                   f"held by {port_holder(port or 80)}") from None
            time.sleep(0.05)
        raise TimeoutError(f"Orthanc did not answer on {self.url} within {timeout} s")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not exit in time. Returns the exit code."""
        return 0 if self.process is None else stop_orthanc(self.process, timeout)

    def wait_until_it_catches_sigterm(self, timeout: float = 5.0) -> bool:
        """Waits until Orthanc has set up its handling of SIGTERM (see :func:`wait_until_it_catches_sigterm`)."""
        assert self.process is not None
        return wait_until_it_catches_sigterm(self.process, timeout)


def stop_orthanc(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Stops an Orthanc started by anyone's Popen: SIGTERM once it handles it, then waits;
    SIGKILL if it does not exit within ``timeout``. Returns the exit code."""
    if process.poll() is None:
        wait_until_it_catches_sigterm(process)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def wait_until_it_catches_sigterm(process: subprocess.Popen[bytes], timeout: float = 5.0) -> bool:
    """Waits until Orthanc has set up its handling of SIGTERM; False if it had not within
    ``timeout`` (or exited, or /proc cannot tell).

    Orthanc installs its signal handlers on its main thread only once it has started
    and told the plugins so, while it already answers HTTP: a SIGTERM before that
    kills it outright (exit -15, seen under load, both from ``stop()`` and from a
    Ctrl-C right after start). The kernel says which signals a process catches
    (``SigCgt`` in /proc/PID/status), whatever plugin or authentication it has.
    """
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        caught = catches_signal(process.pid, signal.SIGTERM)
        if caught is None:
            return False
        if caught:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return False


def catches_signal(pid: int, signum: int) -> bool | None:
    """Whether process ``pid`` has a handler for ``signum`` (Linux's /proc); None if unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def write_configuration(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path
