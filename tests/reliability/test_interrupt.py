"""Ctrl-C in a terminal: `orthanc-runtime run` stops Orthanc cleanly, every time.

A terminal sends SIGINT to the whole foreground process group: the CLI,
Orthanc, and the pool's workers. Orthanc must get exactly one request to stop
(a second signal while it stops killed it: exit 241, no "Orthanc has
stopped"), and the CLI must exit with Orthanc's code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from runtime.devkit.launcher import free_port

CLI = Path(sys.executable).parent / "orthanc-runtime"
STOPS = 20
AT_ONCE = 4

SCRIPT = '''
from runtime import offload, route

@route("/interrupt/inline")
def inline(request):
    return {"ok": True}

@route("/interrupt/offloaded")
@offload
def offloaded(request):
    return {"ok": True}
'''


def interrupt_once_running(command: list[str], output: Path, cwd: Path,
                           start_within: float) -> tuple[int, float]:
    """Starts ``command`` as a terminal would run it (its own process group), its output in
    ``output``; once Orthanc answers, sends SIGINT to the group, as Ctrl-C does: (exit code,
    seconds to stop). The group is killed if anything fails."""
    with open(output, "wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + start_within
            while b"Orthanc is running" not in output.read_bytes():
                assert process.poll() is None, output.read_text(errors="replace")
                assert time.monotonic() < deadline, f"not started within {start_within} s"
                time.sleep(0.05)
            started = time.monotonic()
            os.killpg(process.pid, signal.SIGINT)
            code = process.wait(60)
            return code, time.monotonic() - started
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def ctrl_c_once(folder: Path) -> tuple[int, str, float]:
    """Starts `orthanc-runtime run` as a terminal would run it (its own process group), waits
    until Orthanc answers, sends SIGINT to the group: (exit code, output, seconds to stop)."""
    folder.mkdir(parents=True)
    script = folder / "interrupted.py"
    script.write_text(SCRIPT)
    config = folder / "extra.json"
    config.write_text('{"PythonRuntime": {"Pool": {"Workers": 1}}}')
    output = folder / "output.log"
    code, took = interrupt_once_running(
        [str(CLI), "run", str(script), "--http-port", str(free_port()),
         "--dicom-port", str(free_port()), "--storage", str(folder / "storage"),
         "--config", str(config)], output, folder, 60)
    return code, output.read_text(errors="replace"), took


def test_twenty_terminal_ctrl_c_stop_orthanc_cleanly(tmp_path):
    with ThreadPoolExecutor(AT_ONCE) as runs:
        results = list(runs.map(ctrl_c_once, [tmp_path / f"run{i}" for i in range(STOPS)]))
    unclean = [(code, log[-1500:]) for code, log, _ in results
               if code != 0 or "Orthanc has stopped" not in log or "Traceback" in log]
    took = [seconds for _, _, seconds in results]
    assert not unclean, f"{len(unclean)} of {STOPS} stops were unclean; the first:\n" \
        f"exit {unclean[0][0]}\n{unclean[0][1]}"
    print(f"\n{STOPS} Ctrl-C: {STOPS} clean stops (exit 0, 'Orthanc has stopped'), "
          f"{min(took):.2f}-{max(took):.2f} s each")


REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("target", ["demo", "demo-dask"])
def test_ctrl_c_stops_the_make_demos_cleanly(target, tmp_path):
    """`make demo` and `make demo-dask` under a terminal's Ctrl-C: Orthanc says it has stopped,
    no traceback (the Dask cluster stops after Orthanc, not under it), nothing left running."""
    dask_port = free_port()
    output = tmp_path / "output.log"
    arguments = f"--http-port {free_port()} --dicom-port {free_port()} --storage {tmp_path}/storage"
    # -o install: the venv is what the tests run in; the test must not rebuild it
    interrupt_once_running(["make", "-s", "-o", "install", target, f"DEMO_ARGS={arguments}",
                            f"DASK_PORT={dask_port}"], output, REPOSITORY, 120)
    log = output.read_text(errors="replace")
    assert "Orthanc has stopped" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    deadline = time.monotonic() + 10
    while True:  # the demo's Orthanc and Dask processes, found by their ports and storage
        left = [p for p in psutil.process_iter(["cmdline"])
                if any(str(tmp_path) in part or f"127.0.0.1:{dask_port}" in part
                       or part == str(dask_port) for part in (p.info["cmdline"] or []))]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"left running: {[p.info['cmdline'] for p in left]}"
