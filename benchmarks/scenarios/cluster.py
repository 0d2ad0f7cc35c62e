"""P14: stored instances handled a second by one vs two Orthanc servers on one PostgreSQL.

A PostgreSQL started for this scenario (Debian's 15, on loopback: ``tests/postgresql.py``),
one database a configuration, and P12's offloaded ``@on_stored_instance`` handler
(``scripts/ours_stored_offload.py``: pydicom parses each instance, the pixels' statistics
are written as one JSON file):

- one server: it receives every upload and runs the handler (``Pool.Workers``: the cores);
- two servers on one database and one storage folder (docs/cluster.md): the uploads go to
  both in turn; ``worker`` runs the handler (``Cluster.EventHandlers`` ``["*"]``, the cores'
  workers), ``front`` only ingests (``[]``, one idle worker).

A round makes ``stored_instances`` new instances (``images.from_test_files``, as P12), uploads
them with CLIENTS threads (each on its own keep-alive connection; with two servers, half the
threads on each) and waits until the handler has written a file for each. The figure is
instances handled a second, first upload to last file; the two configurations alternate from
round to round, medians over rounds. Everything runs on one machine: a second server adds
ingest capacity, not cores, so the ratio is reported, with the load average, not judged.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from .. import images, servers
from ..stats import median, ratio
from .base import Context, Result, rotated
from .stored_instances import upload_all

ID = "P14"
TITLE = "stored instances handled a second: one vs two Orthanc servers on one PostgreSQL"
TARGET = "reported (no target): two servers / one server, on one machine"
SCRIPT = servers.SCRIPTS / "ours_stored_offload.py"
CLIENTS = 4
WARM_UP = 10
WAIT = 600.0
ONE, TWO = "one server (ingests and handles)", "two servers (both ingest, one handles)"


def _handled(records: Path) -> int:
    with os.scandir(records) as entries:
        return sum(1 for entry in entries if entry.name.endswith(".json"))


def _server(database: Any, name: str, folder: Path, db: str, storage: Path, records: Path,
            handlers: list[str], workers: int) -> servers.Server:
    from orthanc_native import plugin_path

    config = database.orthanc_config(database=db)
    return servers.ours(name, folder, SCRIPT, {
        **config, "Plugins": [*config["Plugins"], str(plugin_path())],
        "DatabaseServerIdentifier": name, "StorageDirectory": str(storage),
        "BenchStoredFolder": str(records),
        "PythonRuntime": {"Pool": {"Workers": workers}, "Cluster": {"EventHandlers": handlers}}})


def _round(group: list[servers.Server], records: Path, files: list[bytes]) -> dict[str, float]:
    expected = _handled(records) + len(files)
    cpu_before = sum(s.cpu_seconds() for s in group)
    started = time.perf_counter()
    upload_all([s.port for s in group], files)
    while _handled(records) < expected:
        if time.perf_counter() - started > WAIT:
            raise RuntimeError(f"{expected - _handled(records)} instance(s) not handled after "
                               f"{WAIT:.0f} s\n{group[0].log_tail()}")
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_s": sum(s.cpu_seconds() for s in group) - cpu_before}


def run(context: Context) -> Result:
    from tests.postgresql import available, running_postgresql

    result = Result(ID, TITLE, TARGET)
    missing = available()
    if missing:
        result.rows.append(("not run", missing))
        result.judged = "not run: " + missing
        return result
    settings = context.settings
    count = settings.stored_instances
    workdir = context.workdir / "cluster"
    load_before = os.getloadavg()
    rounds: dict[str, list[dict[str, float]]] = {ONE: [], TWO: []}
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(running_postgresql())
        groups: dict[str, tuple[list[servers.Server], Path]] = {}
        for index, (name, layout) in enumerate(((ONE, [("solo", ["*"], context.cores)]),
                                                (TWO, [("worker", ["*"], context.cores),
                                                       ("front", [], 1)]))):
            db = f"p14_{index}"
            database.create_database(db)
            folder = workdir / str(index)
            records = folder / "handled"
            records.mkdir(parents=True, exist_ok=True)
            group = [_server(database, server, folder / server, db, folder / "storage", records,
                             handlers, workers) for server, handlers, workers in layout]
            for server in group:
                stack.callback(server.stop)
                server.start()
            for server in group:
                server.wait_ready(90)
            groups[name] = (group, records)
        for group, records in groups.values():
            group[0].poll_until("/runtime/status",
                                lambda s: s["pool"]["workers"]["idle"] == context.cores)
            _round(group, records, images.from_test_files(WARM_UP))
        for round_ in range(settings.stored_rounds):
            for name in rotated([ONE, TWO], round_):
                group, records = groups[name]
                rounds[name].append(_round(group, records, images.from_test_files(count)))
    load_after = os.getloadavg()

    rates = {name: count / median([r["seconds"] for r in measured])
             for name, measured in rounds.items()}
    for name, measured in rounds.items():
        cpu = median([r["cpu_s"] for r in measured]) / count
        result.data[name] = {"per_s": rates[name], "cpu_s_an_instance": cpu, "rounds": measured}
        result.rows.append((name, f"{rates[name]:.0f} instances/s: {count} in "
                                  f"{median([r['seconds'] for r in measured]):.2f} s; CPU of the "
                                  f"Orthancs an instance {cpu * 1e3:.1f} ms"))
    two_to_one = ratio(rates[TWO], rates[ONE])
    result.data.update(two_to_one=two_to_one, instances=count, clients=CLIENTS,
                       load_before=list(load_before), load_after=list(load_after))
    result.judged = (f"two servers {two_to_one:.2f}x one server (load average "
                     f"{load_before[0]:.1f} before, {load_after[0]:.1f} after)")
    return result
