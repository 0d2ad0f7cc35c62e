"""Test a script against a real Orthanc: a pytest plugin installed with orthanc-runtime.

    def test_hello(orthanc_factory):
        orthanc = orthanc_factory("hello.py")
        assert orthanc.get("/hello/world").json()["hello"] == "world"

    def test_routing(orthanc_factory, dicom_files):
        peer = orthanc_factory(None, name="peer")
        orthanc = orthanc_factory("routing.py", {"OrthancPeers": {"peer": [peer.url + "/"]}})
        instance = orthanc.upload(dicom_files / "CT_small.dcm")
        orthanc.wait_for(lambda: peer.get(f"/instances/{instance}").status == 200)

``orthanc_factory(script, config=None, *, name=..., allow_errors=False)``
starts Debian's ``Orthanc`` (or the one named by ``--orthanc-binary`` or the
``ORTHANC_BINARY`` variable) with this plugin, the script and the extra
configuration, on free loopback ports and a temporary storage folder, and
waits until it answers. At the end of the test each server gets SIGTERM; the
test fails if Orthanc did not exit with 0, left a process behind, or wrote a
Python traceback to its log (unless ``allow_errors=True``). ``dicom_files`` is
the folder of pydicom's test files.

The same functions (``running_orthanc``, ``prepare``, ``wait_for``...) serve
the project's own integration tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from runtime.devkit.launcher import (
    OrthancProcess,
    build_configuration,
    free_port,
    write_configuration,
)

PYDICOM_FILES = Path(str(__import__("pydicom").__file__)).parent / "data" / "test_files"
"""pydicom's test files: about a hundred real DICOM files of many kinds."""

TRACEBACK = "Traceback (most recent call last)"


class Uploaded(str):
    """The id of an uploaded instance; Orthanc's whole answer by key (``["ParentStudy"]``)."""

    answer: dict[str, Any]

    def __new__(cls, answer: dict[str, Any]) -> Uploaded:
        uploaded = super().__new__(cls, answer["ID"])
        uploaded.answer = answer
        return uploaded

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return self.answer[key]
        return str.__getitem__(self, key)


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

    def upload(self, dicom: str | Path | bytes) -> Uploaded:
        """Stores a DICOM file (bytes, a path, or the name of one of pydicom's test files)."""
        if isinstance(dicom, bytes):
            data = dicom
        else:
            path = Path(dicom)
            data = (path if path.is_absolute() or path.exists() else PYDICOM_FILES / path).read_bytes()
        answer = self.post("/instances", data)
        assert answer.status == 200, (answer.status, answer.text)
        return Uploaded(answer.json())

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15,
                 what: str = "condition") -> Any:
        """Polls ``predicate`` until it returns a true value, and returns that value."""
        return wait_for(predicate, timeout, 0.05, what)

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
            *, name: str = "orthanc-runtime", script_key: str = "PythonRuntime",
            http_port: int | None = None) -> Orthanc:
    """``http_port``: a fixed port (a script that calls ``localhost:8042``), else a free one."""
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = http_port or free_port(), free_port()
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
                    verbose: bool = True, timeout: float = 60,
                    http_port: int | None = None) -> Iterator[Orthanc]:
    server = prepare(folder, script, config, name=name, script_key=script_key, http_port=http_port)
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


def check_log(server: Orthanc) -> None:
    """Fails if Orthanc's log holds a Python traceback: a handler or the script raised."""
    text = server.log()
    if TRACEBACK in text:
        at = text.index(TRACEBACK)
        raise AssertionError(f"Orthanc logged a Python traceback:\n{text[max(0, at - 300):at + 3000]}")


# -- the pytest plugin (entry point ``pytest11``) -------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--orthanc-binary", default=None,
                     help="the Orthanc executable the orthanc_factory fixture starts "
                          "(default: $ORTHANC_BINARY, else Debian's Orthanc)")


def pytest_configure(config: pytest.Config) -> None:
    binary = config.getoption("--orthanc-binary", default=None)
    if binary:
        os.environ["ORTHANC_BINARY"] = str(binary)


@pytest.fixture
def orthanc_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Orthanc]]:
    """Starts real Orthancs with the plugin for one test; stops and checks them at its end.

    ``orthanc_factory(script, config=None, *, name="orthanc-runtime", allow_errors=False)``:
    ``script`` is the path of a Python script (or None, for a plain Orthanc such as a peer
    or a DICOM modality), ``config`` extra Orthanc configuration merged over the default.
    """
    started: list[tuple[Orthanc, bool, contextlib.ExitStack]] = []

    def start(script: str | Path | None, config: Mapping[str, Any] | None = None, *,
              name: str = "orthanc-runtime", allow_errors: bool = False,
              timeout: float = 60) -> Orthanc:
        folder = tmp_path_factory.mktemp(name)
        stack = contextlib.ExitStack()
        server = stack.enter_context(running_orthanc(folder, script, config, name=name,
                                                     timeout=timeout))
        started.append((server, allow_errors, stack))
        return server

    yield start
    problems = []
    for server, allow_errors, stack in reversed(started):
        try:
            stack.close()  # SIGTERM; asserts exit 0 and no process left behind
            if not allow_errors:
                check_log(server)
        except AssertionError as error:
            problems.append(f"{server.url}: {error}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def dicom_files() -> Path:
    """The folder of pydicom's test files (``CT_small.dcm``, ``MR_small.dcm``, ...)."""
    return PYDICOM_FILES

