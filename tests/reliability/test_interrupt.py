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

from runtime.launcher import free_port

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


def ctrl_c_once(folder: Path) -> tuple[int, str, float]:
    """Starts `orthanc-runtime run` as a terminal would run it (its own process group), waits
    until Orthanc answers, sends SIGINT to the group: (exit code, output, seconds to stop)."""
    folder.mkdir(parents=True)
    script = folder / "interrupted.py"
    script.write_text(SCRIPT)
    config = folder / "extra.json"
    config.write_text('{"PythonRuntime": {"Pool": {"Workers": 1}}}')
    output = folder / "output.log"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [str(CLI), "run", str(script), "--http-port", str(free_port()),
             "--dicom-port", str(free_port()), "--storage", str(folder / "storage"),
             "--config", str(config)],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=folder)
        try:
            deadline = time.monotonic() + 60
            while b"Orthanc is running" not in output.read_bytes():
                assert process.poll() is None, output.read_text(errors="replace")
                assert time.monotonic() < deadline, "Orthanc did not start within 60 s"
                time.sleep(0.05)
            started = time.monotonic()
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
            code = process.wait(60)
            took = time.monotonic() - started
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
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
