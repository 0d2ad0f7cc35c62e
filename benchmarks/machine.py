"""The description of the machine a run was made on, stored with its results."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from runtime.devkit.launcher import orthanc_binary

from .servers import official_plugin_version


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _run(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def describe() -> dict[str, Any]:
    memory_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    repository = Path(__file__).resolve().parent.parent
    commit = _run("git", "-C", str(repository), "rev-parse", "--short", "HEAD")
    if commit and _run("git", "-C", str(repository), "status", "--porcelain"):
        commit += "+changes"
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gb": round(int(memory_kb) / 1024 / 1024, 1) if memory_kb.isdigit() else None,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": sys.version.split()[0],
        "orthanc": _run(orthanc_binary(), "--version").splitlines()[0].split()[-1],
        "official_plugin": official_plugin_version(),
        "project_commit": commit or "unknown",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def summary_line(machine: dict[str, Any]) -> str:
    official_python = machine.get("official_python")
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
            f"{machine['os']}, Orthanc {machine['orthanc']}, official plugin "
            f"{machine['official_plugin']}"
            + (f" (Python {official_python})" if official_python else "")
            + f", ours {machine['project_commit']} (Python {machine['python']}), {machine['date']}")
