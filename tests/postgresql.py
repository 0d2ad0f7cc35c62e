"""A PostgreSQL server of its own for a test: Debian's postgresql 15, on loopback, in a
temporary folder, stopped (and removed) at the end.

    with running_postgresql() as database:
        config = database.orthanc_config()   # the "PostgreSQL" section and the plugin

PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user
(Debian's package makes it) and its folder is out of pytest's (which only root may
enter). Authentication is ``trust`` on 127.0.0.1 and the socket folder: nothing else can
reach it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.devkit.launcher import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so")
USER = "orthanc"
DATABASE = "orthanc"


def available() -> str | None:
    """Why no PostgreSQL test can run here, or None."""
    if not (BIN / "initdb").exists():
        return f"{BIN / 'initdb'} is missing: apt-get install postgresql (the Makefile's system)"
    if not PLUGIN.exists():
        return f"{PLUGIN} is missing: apt-get install orthanc-postgresql (the Makefile's system)"
    return None


@dataclass
class PostgreSQL:
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def orthanc_config(self, *, database: str = DATABASE, lock: bool = False) -> dict[str, Any]:
        """What an Orthanc needs to keep its index in ``database`` (its files stay in its
        StorageDirectory); ``lock`` False lets several servers share it."""
        return {
            "Plugins": [str(PLUGIN)],
            "PostgreSQL": {
                "EnableIndex": True, "EnableStorage": False, "Host": "127.0.0.1",
                "Port": self.port, "Database": database, "Username": USER, "Password": "",
                "Lock": lock},
        }

    def create_database(self, name: str) -> None:
        _run([str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
             as_owner=False)

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Runs one SQL statement; its rows, tab-separated."""
        return _run([str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                     "-d", database, "-At", "-F", "\t", "-c", sql], as_owner=False)


def _run(args: list[str], *, as_owner: bool = True) -> str:
    if as_owner and os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}"
                           f"{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def running_postgresql() -> Iterator[PostgreSQL]:
    """A fresh cluster with an empty database ``orthanc``, owned by user ``orthanc``."""
    why = available()
    if why:
        raise RuntimeError(why)
    folder = Path(tempfile.mkdtemp(prefix="orthanc-runtime-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PostgreSQL(folder, free_port())
    started = False
    try:
        _run([str(BIN / "initdb"), "-D", str(server.data), "-U", USER, "--auth=trust",
              "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        options = (f"-c listen_addresses=127.0.0.1 -c port={server.port} "
                   f"-c unix_socket_directories={folder} -c fsync=off "
                   "-c synchronous_commit=off -c max_connections=100")
        _run([str(BIN / "pg_ctl"), "-D", str(server.data), "-l", str(folder / "server.log"),
              "-o", options, "-w", "-t", "60", "start"])
        started = True
        server.create_database(DATABASE)
        yield server
    finally:
        if started:
            _run([str(BIN / "pg_ctl"), "-D", str(server.data), "-m", "fast", "-w", "-t", "60",
                  "stop"])
        shutil.rmtree(folder, ignore_errors=True)
