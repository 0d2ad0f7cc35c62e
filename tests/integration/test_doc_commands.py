"""The commands of the pages that serve until stopped, taken from their pages and run:
``make demo`` (README.md and docs/index.md), ``orthanc-runtime run --reload`` (docs/guide.md)
and the Dask page's cluster commands (docs/dask.md). Each gets free ports (and the demo a storage folder of its own, not the
clone's ./orthanc-data) through the options its page names, answers, then stops on a Ctrl-C
sent as a terminal sends it: SIGINT to its whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime.devkit.launcher import free_port
from tests.dask_cluster import make_certificates
from tests.harness import running_orthanc, scripts_dir

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "orthanc-runtime"
STARTED = re.compile(r"orthanc-runtime: Orthanc on http://localhost:(\d+), DICOM port (\d+)$")


def block_starting(page: Path, first: str) -> list[str]:
    """The lines of the fenced block of ``page`` whose first line starts with ``first``."""
    for match in re.finditer(r"^```\w*\n(.*?)^```", page.read_text(), re.M | re.S):
        lines = match.group(1).splitlines()
        if lines and lines[0].startswith(first):
            return lines
    raise AssertionError(f"no block starting with {first!r} in {page}")


def command(line: str) -> list[str]:
    """A shell line of a page, without its comment."""
    return shlex.split(line, comments=True)


@contextmanager
def serving(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """Runs ``argv`` until it says Orthanc is running: its HTTP port. Then a Ctrl-C, and its
    exit within 60 s; every line it printed is shown when it fails."""
    process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    assert process.stdout is not None
    seen: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "it exited before Orthanc ran:\n" + "".join(seen[-40:])
            seen.append(line)
            found = STARTED.search(line.rstrip())
            if found:
                port = int(found[1])
            if "is running" in line:
                break
        assert port, "no port was printed:\n" + "".join(seen[-40:])
        yield port
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            rest, _ = process.communicate()
            raise AssertionError("still running 60 s after Ctrl-C:\n" + "".join(seen[-40:]) + rest) from None
        seen.append(rest)
    print("".join(seen)[-2000:])
    assert "Traceback" not in "".join(seen), "".join(seen)[-4000:]


def get_json(port: int, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def refused(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/system", timeout=5)
    except OSError:
        return True
    return False


def test_make_demo_as_the_readme_says_serves_the_recipes_until_ctrl_c(tmp_path):
    lines = block_starting(ROOT / "README.md", "make demo")
    assert lines[:2] == block_starting(ROOT / "docs" / "index.md", "make demo")[:2]
    # The second line's way out of taken ports, with a storage folder of this test's.
    [taken] = re.findall(r"make demo DEMO_ARGS='[^']*'", lines[1])
    argv = command(taken)
    assert argv == ["make", "demo", "DEMO_ARGS=--http-port 0 --dicom-port 0"], argv
    argv[-1] += f" --storage {tmp_path / 'storage'}"
    with serving(argv, ROOT) as port:
        assert get_json(port, "/system")["HttpPort"] == port
        # A recipe's route, in a worker and in Orthanc's interpreter (docs/recipes.md).
        offloaded = get_json(port, "/computation?n=1000")
        inline = get_json(port, "/computation/inline?n=1000")
        assert isinstance(offloaded, dict) and isinstance(inline, dict)
        assert offloaded["pid"] != inline["pid"], (offloaded, inline)
        assert isinstance(get_json(port, "/recipes/auto-routing/status"), dict)
    assert refused(port)
    assert (tmp_path / "storage").is_dir()  # the demo's files went to this test's folder


def test_the_guides_reload_command_serves_the_edited_script(tmp_path):
    [line] = block_starting(ROOT / "docs" / "guide.md", "orthanc-runtime run --reload")
    argv = command(line)
    assert argv == ["orthanc-runtime", "run", "--reload", "hello.py"], argv
    script = tmp_path / "hello.py"
    script.write_text((ROOT / "examples" / "hello.py").read_text())
    argv = [str(CLI), *argv[1:], "--http-port", "0", "--dicom-port", "0",
            "--storage", str(tmp_path / "storage")]
    with serving(argv, tmp_path) as port:
        assert get_json(port, "/hello/guide") == {"hello": "guide", "instances": 0}
        script.write_text(script.read_text().replace("{'hello': request.params['name']",
                                                     "{'hi': request.params['name']"))
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline:
            answer = get_json(port, "/hello/guide")
            if answer == {"hi": "guide", "instances": 0}:
                break
            time.sleep(0.2)
        assert answer == {"hi": "guide", "instances": 0}, answer
    assert refused(port)


def shell_lines(lines: list[str]) -> list[str]:
    """A block's commands: continuation lines joined, comments and blank lines left out."""
    joined = "\n".join(lines).replace("\\\n", " ")
    return [line for line in (shlex.join(shlex.split(each, comments=True))
                              for each in joined.splitlines()) if line]


class ServiceManager:
    """What the page asks for around its two commands: each is started again when it exits
    (``Restart=always``), its output appended to its log. ``restarts`` counts the exits."""

    def __init__(self, commands: list[tuple[list[str], Path]], env: dict[str, str]) -> None:
        self.commands, self.env = commands, env
        self.running: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self.stopping = threading.Event()
        for index in range(len(commands)):
            self.running.append(self._start(index))
            if index == 0:
                time.sleep(3)  # the scheduler listens before the workers connect
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _start(self, index: int) -> subprocess.Popen[bytes]:
        argv, log = self.commands[index]
        with open(log, "ab") as out:
            return subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            for index, process in enumerate(self.running):
                if process.poll() is not None and not self.stopping.is_set():
                    self.restarts += 1
                    self.running[index] = self._start(index)

    def stop(self) -> None:
        self.stopping.set()
        self.watcher.join()
        for process in self.running:
            with contextlib.suppress(ProcessLookupError):  # it exited as the watcher stopped
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_dask_pages_two_machine_commands_run_on_loopback(tmp_path):
    """docs/dask.md's machine B, on this machine: 127.0.0.1 for both machines' names and for
    0.0.0.0 (servers only on loopback here), a free port for 8786, and a CA and certificate
    made for the test for the page's PEM files, each command under a service manager as the
    page says; then an Orthanc configured as the page says offloads to it over TLS.

    In the Debian 13 root (Python 3.13, OpenSSL 3.5), under the whole suite's load, TLS
    connections of the cluster were seen to drop (docs/dask.md says what then happens): a
    worker whose scheduler connection drops exits, and a request in flight answers 503
    "retry later" while Orthanc's client connects again. The test does what the page tells an
    operator to do, restarts and retries, and prints each drop; the route must answer."""
    page = ROOT / "docs" / "dask.md"
    export, scheduler, worker = shell_lines(block_starting(page, "# machine B"))
    tls = make_certificates(tmp_path / "tls")
    port = str(free_port())
    files = {"ca.pem": tls["ca"], "scheduler.pem": tls["cert"], "worker.pem": tls["cert"],
             "scheduler.key": tls["key"], "worker.key": tls["key"]}

    def here(line: str) -> list[str]:
        argv = [files.get(word, word) for word in shlex.split(line)]
        argv = [word.replace("machine-b:8786", f"127.0.0.1:{port}") for word in argv]
        argv = ["127.0.0.1" if word == "0.0.0.0" else port if word == "8786" else word
                for word in argv]
        assert argv[0] == "dask", line
        return [str(Path(sys.executable).parent / "dask"), *argv[1:]]

    name, _, value = shlex.split(export)[1].partition("=")
    assert shlex.split(export)[0] == "export" and name.startswith("DASK_"), export
    manager = ServiceManager([(here(scheduler), tmp_path / "scheduler.log"),
                              (here(worker), tmp_path / "worker.log")],
                             {**os.environ, name: value})
    refused: list[str] = []
    try:
        config = {"PythonRuntime": {"Pool": {"Backend": "dask", "Dask": {
            "Scheduler": f"tls://127.0.0.1:{port}", "TlsCaFile": tls["ca"],
            "TlsCertFile": tls["cert"], "TlsKeyFile": tls["key"]}}},
            "OffloadMarkerDir": str(tmp_path)}
        with running_orthanc(tmp_path / "orthanc", scripts_dir() / "offload_demo.py", config) as orthanc:
            status = orthanc.get("/runtime/status").json()["pool"]
            assert status["scheduler"] == f"tls://127.0.0.1:{port}", status
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                answer = orthanc.get("/off/pid")
                if answer.status == 200:
                    break
                # 503: the cluster cannot be reached, retry later; 504: no worker took the
                # task within the route's 30 s (the workers still starting, or restarting)
                assert answer.status in (503, 504), answer.text
                refused.append(f"{answer.status} {answer.json()['error']}")
                time.sleep(1)
            assert answer.status == 200, refused
            assert answer.json()["pid"] != orthanc.get("/off/inline-pid").json()["pid"]
            workers = orthanc.get("/runtime/status").json()["pool"]["workers"]["total"]
    finally:
        manager.stop()
        for log in ("scheduler.log", "worker.log"):
            print(f"--- {log}\n" + (tmp_path / log).read_text(errors="replace")[-6000:])
    print(f"answered after {len(refused)} refusal(s) {refused}; the commands restarted "
          f"{manager.restarts} time(s); {workers} of the page's workers connected")
