"""The project's integration tests run on the same harness as script authors' tests.

Everything comes from ``runtime.devkit.testing`` (the pytest plugin installed with the
package); what is here is only for this project's own tests.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runtime.devkit.launcher import orthanc_binary
from runtime.devkit.testing import (  # noqa: F401  (re-exported for the tests)
    PYDICOM_FILES,
    Answer,
    Orthanc,
    Uploaded,
    check_log,
    prepare,
    running_orthanc,
    start_failure,
    stop_and_check,
    wait_for,
    wait_until,
)


def system_version(server: Orthanc) -> str:
    """The running Orthanc's version as its REST API reports it ("1.10.1" on Debian 12): what a
    version that a script reads through the SDK must equal, whichever Orthanc runs the tests."""
    return str(server.get("/system").json()["Version"])


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


OFFICIAL_API = scripts_dir() / "official_api"
"""The project's own scripts written for the official plugin's API (``import orthanc``)."""


def official_script(folder: Path, name: str) -> Path:
    """A copy of ``OFFICIAL_API / name`` in ``folder``, where the script's relative paths go."""
    target = folder / name
    shutil.copyfile(OFFICIAL_API / name, target)
    return target


@contextlib.contextmanager
def official_orthanc(folder: Path, scripts: list[str], config: dict[str, Any] | None = None,
                     *, before: list[Path] | None = None, **kw: Any) -> Iterator[Orthanc]:
    """An Orthanc running ``scripts`` of ``OFFICIAL_API`` as the official plugin would (the
    first as ``PythonScript``, the others through ``PythonRuntime.Scripts``, each its own
    module), its working folder ``folder``. Stopped and checked at the end unless a test
    stopped it already."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [*(before or []), *(official_script(folder, name) for name in scripts)]
    merged = {"PythonRuntime": {"Scripts": [str(s) for s in paths[1:]]}, **(config or {})}
    with contextlib.chdir(folder), \
            running_orthanc(folder / "orthanc", paths[0], merged, script_key="PythonScript",
                            **kw) as server:
        yield server
        if server.process.process is not None and server.process.process.poll() is None:
            check_log(server)


@functools.cache
def orthanc_version() -> tuple[int, int, int]:
    """The version of the Orthanc the tests start (``Orthanc --version``); "mainline" is newer
    than every release. Tests of a feature that only newer Orthancs have assert, on an older
    one, the clear refusal that Orthanc must get instead."""
    answer = subprocess.run([orthanc_binary(), "--version"], capture_output=True, text=True,
                            check=True, timeout=30)
    first = answer.stdout.splitlines()[0]
    if first.rstrip().endswith("mainline"):
        return (99, 99, 99)
    match = re.search(r"(\d+)\.(\d+)\.(\d+)\s*$", first)
    if match is None:
        raise RuntimeError(f"cannot read the version of Orthanc from {first!r}")
    major, minor, revision = (int(g) for g in match.groups())
    return major, minor, revision


def redirect_status() -> int:
    """What Orthanc sends for a plugin's redirect (OrthancPluginRedirect): 301 in 1.10.1, 307
    Temporary Redirect in 1.12.7 and 1.13.0 (docs/orthanc-versions.md)."""
    return 301 if orthanc_version() < (1, 12, 0) else 307
