"""The workers' private copy of the configuration: stale folders of dead masters are removed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from runtime.backends.executor import remove_stale_context_folders


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_only_folders_of_dead_masters_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"orthanc-runtime-{dead_pid()}-abc"
    alive = tmp_path / f"orthanc-runtime-{os.getppid()}-def"
    mine = tmp_path / f"orthanc-runtime-{os.getpid()}-ghi"
    unnamed = tmp_path / "orthanc-runtime-xyz"  # no pid: whose it is cannot be told
    for folder in (dead, alive, mine, unnamed):
        folder.mkdir()
        (folder / "context.json").write_text("{}")
    link = tmp_path / f"orthanc-runtime-{dead_pid()}-link"
    link.symlink_to(alive)
    kept = [alive, mine, unnamed, link]
    if os.getuid() == 0:  # another user's folder, which only root can make here
        others = tmp_path / f"orthanc-runtime-{dead_pid()}-others"
        others.mkdir()
        os.chown(others, 65534, 65534)
        kept.append(others)
    assert remove_stale_context_folders(str(tmp_path)) == [str(dead)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
