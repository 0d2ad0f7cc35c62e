"""P12: a real workload, stored instances parsed by pydicom in an on-stored-instance handler.

Three Orthanc servers started for this scenario do the same work with each
instance they store (``benchmarks/scripts/stored_work.py``: pydicom parses the
whole file, every element is decoded, the pixels become a numpy array whose
mean, standard deviation and 2nd/98th percentiles are taken, and the outcome is
written as one JSON file per instance into a folder of the server's):

- the official plugin with ``scripts/official_stored.py``
  (``RegisterOnStoredInstanceCallback``: inline, on Orthanc's ingest thread);
- ours with ``scripts/ours_stored_offload.py`` (``@on_stored_instance`` +
  ``@offload``: in the pool's workers, the bytes carried with the event);
- ours with ``scripts/ours_stored_inline.py`` (the same handler inline, for
  reference);
- ours with ``scripts/ours_stored_noop.py``: the offloaded handler without the
  work (it records the instance's size only), what the event path alone costs;
- and, as the floor of every configuration, Orthanc without plugin: the uploads
  alone, their time and the CPU Orthanc spends storing the instances.

A round makes ``stored_instances`` new instances from five of pydicom's test
files with fresh UIDs (``images.from_test_files``: CT, MR, a larger MR, an RGB
ultrasound, a multi-frame RT dose; 120 kB on average), then uploads them with
``CLIENTS`` threads, each on its own keep-alive connection (``POST /instances``),
and waits until the server's folder holds a file for each. The figure is
instances handled a second, from the first upload sent to the last file
written; the CPU of Orthanc's process (the master) and of its children (the
workers) over the same span gives the master's share. The servers rotate from
round to round; medians over rounds.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from .. import images, servers, workload
from ..stats import median, ratio
from ..workload import Configuration
from .base import Context, Result, rotated, verdict

ID = "P12"
TITLE = "real workload: stored instances parsed by pydicom in an on-stored-instance handler"
TARGET = "ours @offload >= 1.5x official (instances handled a second, first upload to last handled)"
SCRIPTS = servers.SCRIPTS
CLIENTS = 4          # uploading threads, one keep-alive connection each
WARM_UP = 20         # instances each server handles before the timed rounds
WAIT = 600.0         # seconds a round may take before the scenario gives up
RECORDS = "handled"  # the folder, in each server's own, where the handlers write


def _configured(make: Any, name: str, script: str, runtime: dict[str, Any] | None = None) -> Any:
    def build(folder: Path, workers: int) -> servers.Server:
        records = folder / RECORDS
        records.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {"BenchStoredFolder": str(records)}
        if runtime is not None:
            extra["PythonRuntime"] = {"Pool": {"Workers": workers}, **runtime}
        return make(name, folder, SCRIPTS / script, extra)
    return build


CONFIGURATIONS = [
    Configuration("official 4.0, RegisterOnStoredInstanceCallback (inline)",
                  _configured(servers.official, "stored-official", "official_stored.py"),
                  pool=False),
    Configuration("ours, @on_stored_instance @offload",
                  _configured(servers.ours, "stored-offload", "ours_stored_offload.py", {}),
                  pool=True),
    Configuration("ours, @on_stored_instance inline",
                  _configured(servers.ours, "stored-inline", "ours_stored_inline.py", {}),
                  pool=False),  # nothing offloaded: the runtime starts no pool
    Configuration("reference: ours, @offload handler without the work (the event path alone)",
                  _configured(servers.ours, "stored-noop", "ours_stored_noop.py", {}),
                  pool=True),
    Configuration("reference: Orthanc without plugin (the uploads alone)",
                  lambda folder, _: servers.bare("stored-bare", folder), pool=False),
]
OFFICIAL, OFFLOADED, INLINE, NOOP, BARE = (c.name for c in CONFIGURATIONS)


def _handled(records: Path) -> int:
    with os.scandir(records) as entries:
        return sum(1 for entry in entries if entry.name.endswith(".json"))


def upload_all(ports: list[int], files: list[bytes]) -> float:
    """``files`` POSTed by CLIENTS threads sharing them in turn, thread i to
    ``ports[i % len(ports)]``; the seconds until the last answer (each must be 200: a new
    instance). P14 (scenarios.cluster) spreads its uploads over servers with it."""
    cursor = iter(range(len(files)))
    lock = threading.Lock()
    errors: list[str] = []

    def client(port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while not errors:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                connection.request("POST", "/instances", body=files[index],
                                   headers={"Content-Type": "application/dicom"})
                answer = connection.getresponse()
                body = answer.read()
                if answer.status != 200 or json.loads(body).get("Status") != "Success":
                    errors.append(f"upload {index} to {port}: {answer.status} {body[:200]!r}")
        except Exception as error:  # reported below: the round fails
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(ports[i % len(ports)],), daemon=True)
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"uploads failed: {errors[:3]}")
    return time.perf_counter() - started


def _round(server: servers.Server, files: list[bytes]) -> dict[str, float]:
    """Uploads ``files``; the seconds until every one is handled (for Orthanc without plugin,
    until every upload is answered), and the CPU it took."""
    records = server.folder / RECORDS
    records.mkdir(exist_ok=True)
    expected = _handled(records) + (0 if server.name == "stored-bare" else len(files))
    master_before, workers_before = server.cpu_split()
    started = time.perf_counter()
    uploaded = upload_all([server.port], files)
    while _handled(records) < expected:
        if time.perf_counter() - started > WAIT:
            raise RuntimeError(f"{server.name}: {expected - _handled(records)} instance(s) not "
                               f"handled after {WAIT:.0f} s\n{server.log_tail()}")
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    master_after, workers_after = server.cpu_split()
    return {"seconds": seconds, "uploads_s": uploaded, "master_cpu_s": master_after - master_before,
            "worker_cpu_s": workers_after - workers_before}


def _check(server: servers.Server) -> None:
    """Every record holds the work's outcome (a handler that failed writes none)."""
    if server.name in ("stored-bare", "stored-noop"):
        return
    for path in list((server.folder / RECORDS).glob("*.json"))[:5]:
        outcome = json.loads(path.read_text())
        if not (outcome["elements"] > 10 and outcome["std"] >= 0 and outcome["shape"]):
            raise RuntimeError(f"{server.name}: unexpected record {path.name}: {outcome}")


def run(context: Context) -> Result:
    settings = context.settings
    count = settings.stored_instances
    rounds: dict[str, list[dict[str, float]]] = {c.name: [] for c in CONFIGURATIONS}
    with contextlib.ExitStack() as stack:
        started = workload.start(stack, CONFIGURATIONS, context.workdir / "stored", context.cores)
        for configuration in CONFIGURATIONS:  # warm-up: pydicom imported, workers busy once
            _round(started[configuration.name], images.from_test_files(WARM_UP))
            _check(started[configuration.name])
        for round_ in range(settings.stored_rounds):
            for configuration in rotated(CONFIGURATIONS, round_):
                files = images.from_test_files(count)
                rounds[configuration.name].append(_round(started[configuration.name], files))
        for configuration in CONFIGURATIONS:
            _check(started[configuration.name])

    result = Result(ID, TITLE, TARGET)
    official = count / median([r["seconds"] for r in rounds[OFFICIAL]])
    for configuration in CONFIGURATIONS:
        measured = rounds[configuration.name]
        rate = count / median([r["seconds"] for r in measured])
        master = median([r["master_cpu_s"] for r in measured]) / count
        workers = median([r["worker_cpu_s"] for r in measured]) / count
        share = ratio(master, master + workers)
        uploads = median([r["uploads_s"] for r in measured])
        result.data[configuration.name] = {
            "per_s": rate, "ratio_to_official": ratio(rate, official),
            "master_cpu_s": master, "worker_cpu_s": workers, "master_share": share,
            "uploads_done_s": uploads, "rounds": measured}
        result.rows.append((configuration.name, (
            f"{rate:.0f} instances/s ({ratio(rate, official):.2f}x official): {count} in "
            f"{median([r['seconds'] for r in measured]):.2f} s, uploads answered after "
            f"{uploads:.2f} s; CPU an instance: master {master * 1e3:.2f} ms, workers "
            f"{workers * 1e3:.2f} ms; master's share {share:.0%}")))
    speed_up = result.data[OFFLOADED]["ratio_to_official"]
    result.data.update(speed_up=speed_up, instances=count, clients=CLIENTS,
                       test_files=list(images.TEST_FILES))
    result.verdict = verdict(speed_up >= 1.5)
    result.judged = (f"@offload {speed_up:.2f}x official; master's share "
                     f"{result.data[OFFLOADED]['master_share']:.0%} "
                     f"(inline: {result.data[INLINE]['ratio_to_official']:.2f}x official)")
    return result
