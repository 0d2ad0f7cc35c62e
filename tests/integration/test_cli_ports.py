"""`orthanc-runtime run` (and so `make demo`) with a port that is taken, or with port 0."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime.devkit.launcher import free_port

CLI = Path(sys.executable).parent / "orthanc-runtime"
SCRIPT = "from runtime import route\n\n@route('/ports/hello')\ndef hello(request):\n    return {'hello': 'ports'}\n"


@contextmanager
def held_port() -> Iterator[int]:
    """A loopback port this test's own process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        yield int(holder.getsockname()[1])


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "ports.py"
    script.write_text(SCRIPT)
    return subprocess.run([str(CLI), "run", str(script), "--storage", str(tmp_path / "storage"),
                           *args], capture_output=True, text=True, timeout=60)


def assert_refused_before_start(done: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "Orthanc on" not in done.stdout  # Orthanc was not started
    assert not (tmp_path / "storage").exists()
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_taken_http_port_is_named_with_its_holder_and_the_way_out(tmp_path):
    with held_port() as port:
        done = run_cli(tmp_path, "--http-port", str(port), "--dicom-port", str(free_port()))
    line = assert_refused_before_start(done, tmp_path)
    assert line.startswith(f"orthanc-runtime: the HTTP port {port} is taken by ")
    assert f"(pid {os.getpid()}, user " in line  # this test's process, which psutil can see
    assert "choose --http-port PORT, or --http-port 0 for a free one" in line
    assert "make demo DEMO_ARGS='--http-port 0'" in line


def test_a_taken_dicom_port_is_named_with_its_holder_and_the_way_out(tmp_path):
    with held_port() as port:
        done = run_cli(tmp_path, "--http-port", str(free_port()), "--dicom-port", str(port))
    line = assert_refused_before_start(done, tmp_path)
    assert line.startswith(f"orthanc-runtime: the DICOM port {port} is taken by ")
    assert f"(pid {os.getpid()}, user " in line
    assert "choose --dicom-port PORT, or --dicom-port 0" in line


def test_a_taken_port_from_a_config_file_says_to_change_the_file(tmp_path):
    with held_port() as port:
        extra = tmp_path / "extra.json"
        extra.write_text(json.dumps({"HttpPort": port}))
        done = run_cli(tmp_path, "--dicom-port", str(free_port()), "--config", str(extra))
    line = assert_refused_before_start(done, tmp_path)
    assert f"the HTTP port {port} is taken by " in line
    assert line.endswith("choose another HttpPort in the --config file")


def test_port_zero_picks_free_ports_printed_first_that_answer(tmp_path):
    script = tmp_path / "ports.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [str(CLI), "run", str(script), "--http-port", "0", "--dicom-port", "0",
         "--storage", str(tmp_path / "storage")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.fullmatch(r"orthanc-runtime: Orthanc on http://localhost:(\d+), "
                             r"DICOM port (\d+)\n", first)
        assert found, first
        http_port, dicom_port = int(found[1]), int(found[2])
        assert 0 not in (http_port, dicom_port) and http_port != dicom_port
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "is running" not in line:
            line = process.stdout.readline()
            assert line, "the CLI exited before Orthanc answered"
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/system", timeout=10) as answer:
            system = json.loads(answer.read())
        assert (system["HttpPort"], system["DicomPort"]) == (http_port, dicom_port)
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ports/hello", timeout=10) as answer:
            assert json.loads(answer.read()) == {"hello": "ports"}
        with socket.create_connection(("127.0.0.1", dicom_port), timeout=10):
            pass  # Orthanc's DICOM server listens there
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0
