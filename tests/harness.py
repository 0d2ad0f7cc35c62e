"""A real Orthanc with the plugin, for integration tests.

``running_orthanc(tmp, script)`` starts the ``Orthanc`` binary of Debian's
package with our plugin and ``script`` on free loopback ports and a
temporary storage folder, waits for ``/system``, yields a small HTTP client,
and at the end stops it with SIGTERM and checks that it exited 0 and left no
child process behind.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from runtime.launcher import (
    OrthancProcess,
    build_configuration,
    free_port,
    write_configuration,
)

PYDICOM_FILES = Path(__import__("pydicom").__file__).parent / "data" / "test_files"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Orthanc:
    url: str
    http_port: int
    dicom_port: int
    folder: Path
    log_path: Path
    process: OrthancProcess
    config: dict[str, Any] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 60) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            payload = body.encode() if isinstance(body, str) else body
            connection.request(method, path, body=payload, headers=dict(headers or {}))
            answer = connection.getresponse()
            return Answer(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: bytes | str | None = b"", **kw: Any) -> Answer:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: bytes | str | None = b"", **kw: Any) -> Answer:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.request("DELETE", path, **kw)

    def upload(self, name_or_path: str | Path) -> dict[str, Any]:
        path = Path(name_or_path)
        if not path.is_absolute():
            path = PYDICOM_FILES / path
        answer = self.post("/instances", path.read_bytes())
        assert answer.status == 200, (answer.status, answer.text)
        return answer.json()  # type: ignore[no-any-return]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log()
            if text in content:
                return content
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the log within {timeout} s:\n{self.log()[-4000:]}")

    def children(self) -> list[psutil.Process]:
        assert self.process.process is not None
        try:
            return psutil.Process(self.process.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def prepare(folder: Path, script: str | Path | None, config: Mapping[str, Any] | None = None,
            *, name: str = "orthanc-runtime", script_key: str = "PythonRuntime") -> Orthanc:
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    storage = folder / "storage"
    extra: list[Mapping[str, Any]] = [{"DicomAet": name.upper()[:16].replace("-", "_")}]
    if config:
        extra.append(config)
    if script is not None and script_key == "PythonScript":
        configuration = build_configuration(script=None, http_port=http_port, dicom_port=dicom_port,
                                            storage=storage, name=name, extra=extra)
        configuration["PythonScript"] = str(script)
    else:
        configuration = build_configuration(script=script, http_port=http_port, dicom_port=dicom_port,
                                            storage=storage, name=name, extra=extra)
    config_path = write_configuration(folder / "orthanc.json", configuration)
    log_path = folder / "orthanc.log"
    url = f"http://127.0.0.1:{http_port}"
    process = OrthancProcess(config_path, url, log=open(log_path, "ab"))  # noqa: SIM115
    return Orthanc(url, http_port, dicom_port, folder, log_path, process, configuration)


def stop_and_check(server: Orthanc, timeout: float = 30) -> None:
    """SIGTERM; asserts a clean exit within ``timeout`` and no leftover child process."""
    assert server.process.process is not None
    children = server.children()
    started = time.monotonic()
    code = server.process.stop(timeout)
    took = time.monotonic() - started
    leftover = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert code == 0, f"Orthanc exited with {code}\n{server.log()[-4000:]}"
    assert took < timeout, f"Orthanc took {took:.1f} s to stop"
    deadline = time.monotonic() + 5
    while leftover and time.monotonic() < deadline:
        time.sleep(0.1)
        leftover = [c for c in leftover if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not leftover, f"processes left behind: {leftover}"


@contextlib.contextmanager
def running_orthanc(folder: Path, script: str | Path | None, config: Mapping[str, Any] | None = None,
                    *, name: str = "orthanc-runtime", script_key: str = "PythonRuntime",
                    verbose: bool = True, timeout: float = 60) -> Iterator[Orthanc]:
    server = prepare(folder, script, config, name=name, script_key=script_key)
    server.process.start(verbose=verbose)
    try:
        server.process.wait_ready(timeout)
    except BaseException:
        server.process.stop(5)
        raise RuntimeError(f"Orthanc did not start:\n{server.log()[-6000:]}") from None
    try:
        yield server
    except BaseException:
        server.process.stop(10)
        raise
    stop_and_check(server)


def start_failure(folder: Path, script: str | Path | None, config: Mapping[str, Any] | None = None,
                  *, timeout: float = 60, script_key: str = "PythonRuntime") -> tuple[int, str]:
    """Starts an Orthanc that is expected to refuse to start: its exit code and log."""
    server = prepare(folder, script, config, script_key=script_key)
    server.process.start(verbose=True)
    assert server.process.process is not None
    try:
        code = server.process.process.wait(timeout)
    except Exception:
        server.process.stop(5)
        raise AssertionError(f"Orthanc did not exit:\n{server.log()[-4000:]}") from None
    return code, server.log()


def wait_until(predicate: Callable[[], Any], timeout: float = 15, step: float = 0.05,
               what: str = "condition") -> tuple[Any, float]:
    """Polls ``predicate`` until it returns a true value: that value, and the seconds it took."""
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(step)


def wait_for(predicate: Callable[[], Any], timeout: float = 15, step: float = 0.05,
             what: str = "condition") -> Any:
    """Polls ``predicate`` until it returns a true value, and returns that value."""
    return wait_until(predicate, timeout, step, what)[0]


def overlapping(server: Orthanc, path: str) -> tuple[Any, Any]:
    """Two GETs of ``path``, the second sent once the first occupies a worker: their JSON answers.

    Both must then run at once, in two workers, if the pool works: the test
    does not depend on how fast the machine is.
    """
    answers: list[Any] = []

    def call() -> None:
        answers.append(server.get(path, timeout=120).json())

    threads = [threading.Thread(target=call) for _ in range(2)]
    threads[0].start()
    deadline = time.monotonic() + 30
    while server.get("/runtime/status").json()["pool"]["workers"]["busy"] < 1:
        assert time.monotonic() < deadline, "the first request never reached a worker"
        time.sleep(0.01)
    threads[1].start()
    for t in threads:
        t.join()
    return answers[0], answers[1]


def scripts_dir() -> Path:
    return Path(__file__).parent / "scripts"

